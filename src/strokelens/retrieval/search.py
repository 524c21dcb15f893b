"""Cosine-similarity search of a gallery, with every query's own drawing left out of its results."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.retrieval.gallery import item_key
from strokelens.sketch import Sketch


def cosine_similarity(queries: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """``(Q, N)`` cosine similarity of query embeddings ``(Q, D)`` to gallery embeddings ``(N, D)``."""
    if queries.dim() != 2 or gallery.dim() != 2 or queries.shape[1] != gallery.shape[1]:
        raise StrokelensError(
            f"query embeddings {tuple(queries.shape)} and gallery embeddings {tuple(gallery.shape)} must be "
            "(Q, D) and (N, D) with the same D (embed both with the same model)"
        )
    return F.normalize(queries.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T


def same_item_mask(queries: Sequence[Sketch], gallery: Sequence[Sketch]) -> torch.Tensor:
    """``(Q, N)`` bool: gallery item ``j`` is query ``i``'s own drawing (same ``key_id``, or without
    key ids the same file and line; see `item_key`)."""
    where: dict[str, list[int]] = defaultdict(list)
    for j, s in enumerate(gallery):
        key = item_key(s)
        if key is not None:
            where[key].append(j)
    rows, cols = [], []
    for i, s in enumerate(queries):
        for j in where.get(item_key(s) or "", []):
            rows.append(i)
            cols.append(j)
    mask = torch.zeros(len(queries), len(gallery), dtype=torch.bool)
    mask[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = True
    return mask


@dataclass
class Matches:
    """The top ``k`` gallery items of every query: ``indices`` ``(Q, k)`` long and ``similarities``
    ``(Q, k)``, best first."""

    indices: torch.Tensor
    similarities: torch.Tensor

    @property
    def k(self) -> int:
        return self.indices.shape[1]


def masked_similarity(similarity: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
    """``similarity`` with excluded pairs at ``-inf`` (checked shapes)."""
    if exclude is None:
        return similarity
    if tuple(exclude.shape) != tuple(similarity.shape) or exclude.dtype != torch.bool:
        raise StrokelensError(
            f"the exclusion mask must be bool {tuple(similarity.shape)}, "
            f"got {exclude.dtype} {tuple(exclude.shape)}"
        )
    return similarity.masked_fill(exclude.to(similarity.device), -torch.inf)


def search(
    queries: torch.Tensor, gallery: torch.Tensor, k: int = 10, exclude: torch.Tensor | None = None
) -> Matches:
    """The ``k`` most cosine-similar gallery items of each query; ``exclude`` ``(Q, N)`` bool marks
    pairs never returned (a query's own drawing, `same_item_mask`)."""
    if k < 1:
        raise StrokelensError(f"k must be at least 1, got {k}")
    sim = masked_similarity(cosine_similarity(queries, gallery), exclude)
    available = int(torch.isfinite(sim).sum(1).min()) if len(sim) else 0
    if available < 1:
        raise StrokelensError("the gallery holds no item other than the query itself")
    if k > available:
        raise StrokelensError(
            f"asked for the top {k} of a gallery with only {available} item(s) besides the query"
        )
    values, indices = sim.topk(k, dim=1)
    return Matches(indices=indices, similarities=values)
