"""The loop behind ``strokelens retrieve``: embed queries, search the gallery, score the search by
category and explain the top match of the first queries (`strokelens.retrieval.report.save_retrieval`
writes ``results.jsonl`` and ``report.html``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.retrieval.explain import MatchExplanations, check_method, explain_matches
from strokelens.retrieval.gallery import Gallery, embed_sketches
from strokelens.retrieval.scores import RetrievalScores, relevance, retrieval_scores
from strokelens.retrieval.search import Matches, cosine_similarity, same_item_mask, search
from strokelens.sketch import Sketch
from strokelens.views import EmbeddingView


@dataclass
class RetrievalRun:
    """Prepared queries, their embeddings and top-``k`` matches in ``gallery``; ``exclude`` ``(Q, N)``
    marks each query's own drawing; ``scores`` when every query has a label its gallery shares;
    ``explanations`` of the top match of the first queries (None when none were asked for)."""

    queries: list[Sketch]
    query_embeddings: torch.Tensor
    gallery: Gallery
    matches: Matches
    exclude: torch.Tensor
    scores: RetrievalScores | None
    explanations: MatchExplanations | None


def run_retrieval(
    view: EmbeddingView,
    queries: Sequence[Sketch],
    gallery: Gallery,
    *,
    k: int = 10,
    explain: int = 8,
    method: str = "sla",
    seed: int = 0,
    options: dict[str, Any] | None = None,
    batch_size: int = 256,
) -> RetrievalRun:
    """Search ``gallery`` for every query (raw sketches; prepared here as the gallery was) and
    explain the top match of the first ``explain`` queries with ``method`` (checked before any work)."""
    if explain < 0:
        raise StrokelensError(f"the number of matches to explain must be 0 or more, got {explain}")
    if explain:
        check_method(view, method, options)
    prepared = view.prepare(list(queries))
    if not prepared:
        raise StrokelensError("no query drawings")
    embeddings = embed_sketches(view, prepared, batch_size)
    exclude = same_item_mask(prepared, gallery.sketches)
    matches = search(embeddings, gallery.embeddings, k, exclude)
    labels = [q.label for q in prepared]
    scores = None
    if all(labels) and bool(relevance(labels, gallery.labels).logical_and(~exclude).any()):
        sim = cosine_similarity(embeddings, gallery.embeddings)
        scores = retrieval_scores(sim, labels, gallery.labels, exclude, k=10)
    explanations = None
    n = min(explain, len(prepared))
    if n:
        explanations = explain_matches(
            view,
            prepared[:n],
            embeddings[:n],
            gallery,
            matches.indices[:n, 0],
            method,
            seed=seed,
            options=options,
        )
    return RetrievalRun(prepared, embeddings, gallery, matches, exclude, scores, explanations)


def records(run: RetrievalRun) -> list[dict[str, Any]]:
    """One JSON-ready record per query: its id, source, label and top-k gallery items; explained
    queries also carry the method and both sides' stroke scores for their top match."""
    out = []
    idx, sims = run.matches.indices.tolist(), run.matches.similarities.tolist()
    expl = run.explanations
    q_scores = expl.query_scores() if expl else []
    g_scores = expl.gallery_scores() if expl and expl.gallery else []
    for i, q in enumerate(run.queries):
        items = [run.gallery.item(j) for j in idx[i]]
        record: dict[str, Any] = {
            "id": q.key_id or str(i),
            "source": q.source,
            "label": q.label,
            "gallery_ids": [it["id"] for it in items],
            "gallery_sources": [it["source"] for it in items],
            "gallery_labels": [it["label"] for it in items],
            "similarities": [round(s, 6) for s in sims[i]],
        }
        if run.scores is not None:
            record["average_precision"] = _round(float(run.scores.ap[i]))
            record[f"precision_at_{run.scores.k}"] = _round(float(run.scores.p_at_k[i]))
        if i < len(q_scores):
            record["explanation"] = {
                "method": expl.method,
                "match": 0,
                "query_scores": [round(v, 6) for v in q_scores[i]],
                "gallery_scores": [round(v, 6) for v in g_scores[i]] if g_scores else None,
            }
        out.append(record)
    return out


def _round(value: float) -> float | None:
    return None if value != value else round(value, 6)
