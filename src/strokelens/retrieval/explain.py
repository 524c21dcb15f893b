"""Explaining a match: which query strokes make gallery item ``j`` similar to the query (the
query's embedding game, reference = item ``j``'s embedding), and which of item ``j``'s strokes match
the query (the reverse game, reference = the query's embedding).

Any registered attribution method that works on an `EmbeddingView` can explain a match. The learned
explainers (``wys``, ``fastshap``) were trained to predict class scores, not similarities, and are
refused rather than run on a game they do not model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from strokelens.attribution.base import Method, check_options
from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.methods import get_method, methods_where
from strokelens.retrieval.gallery import Gallery
from strokelens.sketch import Sketch
from strokelens.units.base import Units
from strokelens.views import EmbeddingView

#: Matches explained per batch.
EXPLAIN_BATCH = 32


class ReferenceView(EmbeddingView):
    """An `EmbeddingView` whose games compare input ``b`` with ``references[b]`` unless told otherwise,
    so a `Method` (which builds its own game) explains similarity to a chosen gallery item."""

    def __init__(self, view: EmbeddingView, references: torch.Tensor) -> None:
        self.__dict__.update(view.__dict__)
        self.references = references

    def bind(self, units: Units, reference: torch.Tensor | None = None) -> dict[str, Any]:
        return super().bind(units, self.references if reference is None else reference)


def check_method(view: EmbeddingView, name: str, options: dict[str, Any] | None = None) -> type[Method]:
    """The method class ``name`` if it can explain a similarity on ``view``, else a `StrokelensError`
    saying why (unknown name, a learned class-score explainer, the wrong kind of units, bad options)."""
    cls = get_method(name)
    if cls.learned:
        usable = ", ".join(methods_where(learned=False, model_free=False, units="stroke"))
        raise StrokelensError(
            f"method {name!r} is a learned explainer trained to predict class scores; it cannot explain "
            f"an embedding similarity (use one of {usable})"
        )
    if not issubclass(view.units_type, cls.units_type) and not issubclass(cls.units_type, view.units_type):
        raise StrokelensError(
            f"method {name!r} needs {' or '.join(cls.units_type.KINDS)} units; this view scores "
            f"{' or '.join(view.units_type.KINDS)}"
        )
    check_options(cls, options or {})
    return cls


def probe_method(
    view: EmbeddingView, method: str, sketch: Sketch, options: dict[str, Any] | None = None
) -> None:
    """Explain one prepared sketch's similarity to itself with ``method``, so a method that cannot
    work on this view (P-SLA off a raster view, exact Shapley past 16 strokes) fails before a whole
    gallery is embedded."""
    explain_similarity(
        view, [sketch], view.embed(view.units_for([sketch], "stroke")), method, options=options
    )


@dataclass
class MatchExplanations:
    """Explanations of ``Q`` (query, gallery item) pairs, batch by batch: ``query`` scores the query's
    strokes for similarity to its item, ``gallery`` the item's strokes for similarity to the query.
    ``matches`` ``(Q,)``: the gallery index of each pair's item."""

    method: str
    matches: torch.Tensor
    query: list[Explanation] = field(default_factory=list)
    gallery: list[Explanation] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.matches)

    def pair(self, n: int) -> tuple[Explanation, Explanation | None, int]:
        """``(query explanation, gallery explanation or None, row)`` of pair ``n``."""
        b, i = divmod(n, len(self.query[0].scores))
        return self.query[b], self.gallery[b] if self.gallery else None, i

    def query_scores(self) -> list[list[float]]:
        return [e.unit_scores(i) for e in self.query for i in range(len(e.scores))]

    def gallery_scores(self) -> list[list[float]]:
        return [e.unit_scores(i) for e in self.gallery for i in range(len(e.scores))]


def explain_similarity(
    view: EmbeddingView,
    sketches: Sequence[Sketch],
    references: torch.Tensor,
    method: str = "sla",
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> Explanation:
    """Stroke scores of prepared ``sketches`` for their cosine similarity to ``references`` ``(B, D)``."""
    cls = check_method(view, method, options)
    units = view.units_for(list(sketches), "stroke")
    refs = torch.as_tensor(references, device=view.device).float()
    if refs.dim() != 2 or len(refs) != len(units):
        raise StrokelensError(
            f"{len(units)} sketches need ({len(units)}, D) references, got {tuple(refs.shape)}"
        )
    return cls(ReferenceView(view, refs)).attribute(units, target=0, seed=seed, **(options or {}))


def explain_matches(
    view: EmbeddingView,
    queries: Sequence[Sketch],
    query_embeddings: torch.Tensor,
    gallery: Gallery,
    matches: torch.Tensor | Sequence[int],
    method: str = "sla",
    *,
    both: bool = True,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    batch_size: int = EXPLAIN_BATCH,
) -> MatchExplanations:
    """Explain the match of query ``i`` with gallery item ``matches[i]`` for every prepared query;
    ``both``: also explain the item's strokes (the reverse game)."""
    matches = torch.as_tensor(matches, dtype=torch.long).reshape(-1).cpu()
    if len(matches) != len(queries) or len(query_embeddings) != len(queries):
        raise StrokelensError(
            f"{len(queries)} queries need as many matches and embeddings, got {len(matches)} and "
            f"{len(query_embeddings)}"
        )
    if len(matches) and (int(matches.min()) < 0 or int(matches.max()) >= len(gallery)):
        raise StrokelensError(f"match indices must lie in 0..{len(gallery) - 1}")
    if batch_size < 1:
        raise StrokelensError(f"batch size must be at least 1, got {batch_size}")
    check_method(view, method, options)
    out = MatchExplanations(method, matches)
    for lo in range(0, len(queries), batch_size):
        idx = matches[lo : lo + batch_size]
        chunk = list(queries[lo : lo + batch_size])
        refs = gallery.embeddings[idx.to(gallery.embeddings.device)]
        out.query.append(explain_similarity(view, chunk, refs, method, seed=seed, options=options))
        if both:
            items = [gallery.sketches[j] for j in idx.tolist()]
            own = query_embeddings[lo : lo + batch_size]
            out.gallery.append(explain_similarity(view, items, own, method, seed=seed, options=options))
    return out
