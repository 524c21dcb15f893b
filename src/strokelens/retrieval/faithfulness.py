"""Is an explanation of a match faithful? Deleting the query strokes it ranks highest should lower
the similarity to the matched item faster than deleting strokes at random.

`deletion_curves`: deletion/insertion curves of the similarity (`metrics.deletion_insertion` on the
query's embedding game with the item as reference; the curves record the raw cosine similarity).
`rank_after_deletion`: the matched item's rank in the whole gallery once the query's top ``n``
strokes are deleted, all reduced queries re-embedded in one batched pass.
"""

from __future__ import annotations

import torch

from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.metrics import Curves, deletion_insertion, ranking
from strokelens.retrieval.search import cosine_similarity, masked_similarity
from strokelens.views import EmbeddingView


def deletion_curves(view: EmbeddingView, explanation: Explanation, references: torch.Tensor) -> Curves:
    """Deletion and insertion curves of the similarity of each explained input to ``references``
    ``(B, D)`` (the embeddings the explanation was made for), removing units in score order."""
    game = view.game(explanation.units, 0, reference=torch.as_tensor(references, device=view.device))
    return deletion_insertion(game, explanation.scores.to(game.device))


def rank_after_deletion(
    view: EmbeddingView,
    explanation: Explanation,
    gallery_embeddings: torch.Tensor,
    matches: torch.Tensor,
    removed: int = 1,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(B,)`` float: the 1-based rank of gallery item ``matches[b]`` among all gallery items
    (``exclude`` ``(B, N)`` left out) for query ``b`` with its ``removed`` top-scored units deleted;
    NaN for a query with no more than ``removed`` units (nothing would be left)."""
    if removed < 1:
        raise StrokelensError(f"removed must be at least 1, got {removed}")
    units = explanation.units.to(view.device)
    matches = torch.as_tensor(matches, dtype=torch.long, device=view.device).reshape(-1)
    if len(matches) != len(units):
        raise StrokelensError(f"{len(units)} explained queries need as many matches, got {len(matches)}")
    mask = units.unit_mask
    order = ranking(explanation.scores.to(view.device), mask)
    z = torch.ones(len(units), units.max_units, device=view.device, dtype=units.dtype)
    z.scatter_(1, order[:, : min(removed, units.max_units)], 0.0)
    rows = torch.arange(len(units), device=view.device)
    with torch.no_grad():
        reduced = view.embed_outputs(z, rows, view.inner.bind(units))
    gallery = gallery_embeddings.to(view.device)
    sim = masked_similarity(cosine_similarity(reduced, gallery), exclude)
    own = sim.gather(1, matches[:, None])
    rank = 1.0 + (sim > own).sum(1).double()
    return torch.where(units.n_units > removed, rank, torch.full_like(rank, float("nan"))).cpu()
