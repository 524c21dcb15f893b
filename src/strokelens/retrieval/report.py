"""The retrieval report: a self-contained HTML page with the category scores and, for each explained
query, the query coloured by its strokes' scores beside its top match coloured by its own."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from strokelens.retrieval.run import RetrievalRun, records
from strokelens.viz.report import _STYLE, _img
from strokelens.viz.scores import explanation_png
from strokelens.viz.sketch_image import sketch_png

LEGEND = (
    "Left: the query, each stroke coloured by how much it makes the query similar to the match (red "
    "raises the cosine similarity, blue lowers it). Right: the match, its strokes scored for similarity "
    "to the query. Colours are scaled per sketch."
)


def _caption(sketch, fallback: str) -> str:
    name = html.escape(f"{sketch.label or ''} {sketch.key_id or fallback}")
    return f"{name}<br><span class='small'>{html.escape(sketch.source or '')}</span>"


def write_retrieval_report(path: str | Path, run: RetrievalRun, title: str) -> Path:
    """Write ``report.html`` for ``run``; returns its path."""
    path = Path(path)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{len(run.queries)} queries, gallery of {len(run.gallery)} sketches, each query's own drawing "
        "excluded from its results.</p>",
    ]
    scores = run.scores
    if scores is not None:
        left_out = f" ({scores.unscored} queries whose class is not in the gallery left out)"
        parts.append(
            f"<h2>Category scores</h2><p>mAP {scores.map:.4f}, precision@{scores.k} {scores.precision:.4f}"
            f"{left_out if scores.unscored else ''}</p><table><tr><th>category</th><th>queries</th>"
            f"<th>mAP</th><th>P@{scores.k}</th></tr>"
        )
        for name, fig in scores.per_category.items():
            parts.append(
                f"<tr><td>{html.escape(name)}</td><td>{fig['queries']}</td><td>{fig['map']:.4f}</td>"
                f"<td>{fig['precision']:.4f}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append(
            "<p class='small'>No category scores: not every query has a label the gallery shares.</p>"
        )
    expl = run.explanations
    if expl is not None and len(expl):
        parts.append(
            f"<h2>Explained matches ({html.escape(expl.method)})</h2>"
            f"<p class='small'>{html.escape(LEGEND)}</p><table><tr><th>query</th><th>query strokes</th>"
            "<th>match strokes</th><th>match</th><th>top results</th></tr>"
        )
        idx, sims = run.matches.indices.tolist(), run.matches.similarities.tolist()
        for n in range(len(expl)):
            q_expl, g_expl, i = expl.pair(n)
            j = idx[n][0]
            match = run.gallery.sketches[j]
            if g_expl is not None:
                right = _img(explanation_png(g_expl, i, size=200))
            else:
                right = _img(sketch_png(match, None, size=200))
            top = "<br>".join(
                html.escape(f"{r + 1}. {run.gallery.sketches[g].label or '?'} ({s:.3f})")
                for r, (g, s) in enumerate(zip(idx[n][:5], sims[n][:5], strict=True))
            )
            parts.append(
                f"<tr><td>{_caption(run.queries[n], str(n))}</td>"
                f"<td>{_img(explanation_png(q_expl, i, size=200))}</td>"
                f"<td>{right}</td><td>{_caption(match, str(j))}<br>similarity {sims[n][0]:.4f}</td>"
                f"<td class='small'>{top}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path


def save_retrieval(run: RetrievalRun, out_dir: str | os.PathLike[str], title: str) -> list[dict[str, Any]]:
    """Write ``results.jsonl`` and ``report.html`` to ``out_dir``; returns the records."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recs = records(run)
    with open(out / "results.jsonl", "w", encoding="utf-8") as fh:
        for record in recs:
            fh.write(json.dumps(record) + "\n")
    write_retrieval_report(out / "report.html", run, title)
    return recs
