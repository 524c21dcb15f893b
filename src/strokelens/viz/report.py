"""A self-contained HTML report (no network needed to view it): every sketch coloured by each
method's scores side by side, deletion/insertion curves and what each method cost."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from strokelens.explanation import Explanation
from strokelens.metrics import Curves
from strokelens.viz.scores import curves_png, explanation_png, resample_curve

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px;vertical-align:top}
th{background:#f4f4f4}img{display:block}.small{color:#666;font-size:12px}
"""


def _png_img(data: bytes) -> str:
    """PNG bytes inlined as an ``<img>``."""
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _img(image, max_side: int | None = None) -> str:
    """A PIL image inlined as a PNG ``<img>`` (shrunk to ``max_side`` when given); a picture already
    given as HTML (a clip's frame strip and animation) as it is."""
    if isinstance(image, str):
        return image
    if max_side is not None:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return _png_img(buf.getvalue())


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _sketch_picture(expl: Explanation, i: int):
    return explanation_png(expl, i, size=200)


def _sketch_caption(expl: Explanation, i: int) -> str:
    sketch = expl.units.original.sketches[i]
    name = html.escape(f"{sketch.label or ''} {sketch.key_id or i}")
    return f"{name}<br><span class='small'>{html.escape(sketch.source or '')}</span>"


SKETCH_LEGEND = (
    "Red: the unit supports the target class; blue: it argues against it. Colours are scaled per input."
)


def write_report(
    path: str | Path,
    explanations: Mapping[str, Explanation | Sequence[Explanation]],
    curves: Mapping[str, Curves | Sequence[Curves]] | None = None,
    title: str = "strokelens report",
    max_sketches: int = 50,
    *,
    picture: Callable[[Explanation, int], Any] = _sketch_picture,
    caption: Callable[[Explanation, int], str] = _sketch_caption,
    legend: str = SKETCH_LEGEND,
    max_side: int | None = None,
    default: str | None = None,
) -> Path:
    """Write the report for explanations of the same inputs by several methods; returns its path.

    Each method maps to one explanation or to a list of them (consecutive batches, the same batching
    for every method); ``curves`` likewise. ``picture(expl, i)`` draws input ``i`` as a PIL image
    (default: the sketch coloured by score) and ``caption(expl, i)`` gives its HTML caption; photos
    pass their own (`strokelens.viz.photos.write_photo_report`). ``default`` names the default method
    (`strokelens.defaults`): it is marked so, and its column and row come first.
    """
    path = Path(path)
    batches = {name: _as_list(e) for name, e in explanations.items()}
    curve_batches = {name: _as_list(c) for name, c in (curves or {}).items()}
    if default in batches:
        batches = {default: batches[default], **batches}
    methods = list(batches)

    def label(name: str) -> str:
        return html.escape(name) + (" (default)" if name == default else "")

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Cost</h2><table><tr><th>method</th><th>units</th><th>model evaluations / input</th>"
        "<th>ms / input</th><th>seed</th>",
    ]
    if curve_batches:
        parts.append("<th>deletion AUC (lower better)</th><th>insertion AUC (higher better)</th>")
    parts.append("</tr>")
    for name, expls in batches.items():
        n = sum(len(e.scores) for e in expls)
        evals = sum(e.evaluations * len(e.scores) for e in expls) / n
        ms = 1000 * sum(e.seconds for e in expls) / n
        row = (
            f"<tr><td>{label(name)}</td><td>{expls[0].units.kind}</td><td>{evals:.1f}</td>"
            f"<td>{ms:.2f}</td><td>{expls[0].seed}</td>"
        )
        if name in curve_batches:
            dele = torch.cat([c.deletion_auc for c in curve_batches[name]]).mean()
            ins = torch.cat([c.insertion_auc for c in curve_batches[name]]).mean()
            row += f"<td>{float(dele):.3f}</td><td>{float(ins):.3f}</td>"
        parts.append(row + "</tr>")
    parts.append("</table>")
    if curve_batches:
        parts.append("<h2>Deletion and insertion curves</h2><div style='display:flex;gap:12px'>")
        for kind in ("deletion", "insertion"):
            per_method = {
                name: np.stack(
                    [
                        resample_curve(getattr(c, kind)[i].numpy(), int(c.n_units[i]))
                        for c in cs
                        for i in range(len(c.n_units))
                    ]
                )
                for name, cs in curve_batches.items()
            }
            parts.append(_png_img(curves_png(per_method, kind)))
        parts.append("</div>")
    parts.append(f"<h2>Inputs</h2><p class='small'>{html.escape(legend)}</p><table><tr><th>input</th>")
    parts.extend(f"<th>{label(m)}</th>" for m in methods)
    parts.append("</tr>")
    shown = 0
    for b, first in enumerate(batches[methods[0]]):
        for i in range(len(first.scores)):
            if shown >= max_sketches:
                break
            shown += 1
            target = html.escape(first.target_names[i]) if first.target_names else ""
            head, _, rest = caption(first, i).partition("<br>")
            parts.append(f"<tr><td>{head}<br><span class='small'>target: {target}</span><br>{rest}</td>")
            parts.extend(f"<td>{_img(picture(batches[m][b], i), max_side)}</td>" for m in methods)
            parts.append("</tr>")
    parts.append("</table></body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path
