"""Category-level retrieval scores: mean average precision and precision@k, per category and
overall. A gallery item is relevant to a query when their labels name the same class
(`normalise_class_name`: ``alarm_clock`` = ``Alarm clock``); a query's own drawing is excluded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from strokelens.errors import StrokelensError
from strokelens.games import normalise_class_name
from strokelens.retrieval.search import masked_similarity

#: Queries per chunk when sorting whole gallery rows.
CHUNK = 256


@dataclass
class RetrievalScores:
    """``map`` and ``precision`` (at ``k``) over all scored queries, the same per category (the query's
    label), and the queries per category. ``ap`` and ``p_at_k`` ``(Q,)`` are per query, NaN for a query
    whose class has no item in the gallery (it is left out of every mean; ``unscored`` counts them)."""

    k: int
    map: float
    precision: float
    ap: torch.Tensor
    p_at_k: torch.Tensor
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    unscored: int = 0


def average_precision(
    similarity: torch.Tensor, relevant: torch.Tensor, exclude: torch.Tensor | None = None, k: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query ``(Q,)``: average precision over the whole ranked gallery and precision at ``k``,
    from similarities and relevance ``(Q, N)``; excluded pairs are neither ranked nor relevant. NaN
    where a query has no relevant item. Vectorised, in chunks of `CHUNK` queries."""
    if tuple(relevant.shape) != tuple(similarity.shape) or relevant.dtype != torch.bool:
        raise StrokelensError(
            f"relevance must be bool {tuple(similarity.shape)}, got {relevant.dtype} {tuple(relevant.shape)}"
        )
    if k < 1:
        raise StrokelensError(f"k must be at least 1, got {k}")
    sim = masked_similarity(similarity, exclude)
    rel_all = relevant.to(sim.device)
    if exclude is not None:
        rel_all = rel_all & ~exclude.to(sim.device)
    aps, pks = [], []
    n = sim.shape[1]
    ranks = torch.arange(1, n + 1, device=sim.device, dtype=torch.float64)
    for lo in range(0, len(sim), CHUNK):
        order = torch.argsort(-sim[lo : lo + CHUNK], dim=1, stable=True)
        rel = rel_all[lo : lo + CHUNK].gather(1, order).double()
        hits = rel.sum(1)
        ap = (rel.cumsum(1) / ranks * rel).sum(1) / hits
        pk = rel[:, :k].sum(1) / k
        none = hits == 0
        aps.append(ap.masked_fill(none, float("nan")))
        pks.append(pk.masked_fill(none, float("nan")))
    return torch.cat(aps).cpu(), torch.cat(pks).cpu()


def relevance(query_labels: Sequence[str | None], gallery_labels: Sequence[str | None]) -> torch.Tensor:
    """``(Q, N)`` bool: same normalised class name. Every query needs a label."""
    missing = [i for i, lab in enumerate(query_labels) if not lab]
    if missing:
        raise StrokelensError(
            f"{len(missing)} of {len(query_labels)} queries have no label (first: query {missing[0]}); "
            "category scores need labelled queries"
        )
    names = sorted({normalise_class_name(x) for x in [*query_labels, *gallery_labels] if x})
    code = {name: c for c, name in enumerate(names)}
    q = torch.tensor([code[normalise_class_name(x)] for x in query_labels])
    g = torch.tensor([code[normalise_class_name(x)] if x else -1 for x in gallery_labels])
    return q[:, None] == g[None, :]


def retrieval_scores(
    similarity: torch.Tensor,
    query_labels: Sequence[str | None],
    gallery_labels: Sequence[str | None],
    exclude: torch.Tensor | None = None,
    k: int = 10,
) -> RetrievalScores:
    """mAP and precision@``k`` of a ``(Q, N)`` similarity matrix, per category and overall."""
    if similarity.shape != (len(query_labels), len(gallery_labels)):
        raise StrokelensError(
            f"similarity {tuple(similarity.shape)} does not match {len(query_labels)} queries and "
            f"{len(gallery_labels)} gallery items"
        )
    ap, pk = average_precision(similarity, relevance(query_labels, gallery_labels), exclude, k)
    scored = ~torch.isnan(ap)
    if not scored.any():
        raise StrokelensError("no query's class appears in the gallery; nothing to score")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(query_labels):
        if scored[i]:
            groups[normalise_class_name(label)].append(i)
    per_category = {
        name: {"map": float(ap[idx].mean()), "precision": float(pk[idx].mean()), "queries": len(idx)}
        for name, idx in sorted(groups.items())
    }
    return RetrievalScores(
        k=k,
        map=float(ap[scored].mean()),
        precision=float(pk[scored].mean()),
        ap=ap,
        p_at_k=pk,
        per_category=per_category,
        unscored=int((~scored).sum()),
    )
