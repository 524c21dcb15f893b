"""Which stroke to remove first: any attribution method's stroke scores, piece methods pooled.

The removal attack takes the strokes from the highest score down. Untargeted, the score is the
method's attribution to the predicted class (the strokes that support it most go first). Targeted
toward a goal class, it is the attribution to the predicted class minus the attribution to the goal
(a stroke that supports what the model sees and argues against the goal goes first). The model-free
baselines (random, length, order) rank strokes the same way whatever the target.
"""

from __future__ import annotations

from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.methods import get_method
from strokelens.units.strokes import SketchUnits
from strokelens.views.base import View


def pool_to_strokes(piece_scores: torch.Tensor, unit_stroke: torch.Tensor, n_strokes: int) -> torch.Tensor:
    """``(B, S)``: each stroke's score as the sum of its pieces' scores ``(B, K)`` (``unit_stroke``
    names every piece's stroke, ``-1`` on padding)."""
    if piece_scores.shape != unit_stroke.shape:
        raise StrokelensError(
            f"piece scores {tuple(piece_scores.shape)} and unit_stroke {tuple(unit_stroke.shape)} differ"
        )
    valid = unit_stroke >= 0
    out = piece_scores.new_zeros(len(piece_scores), n_strokes)
    values = torch.where(valid, piece_scores, torch.zeros_like(piece_scores))
    return out.scatter_add_(1, unit_stroke.clamp(min=0), values)


def stroke_scores(
    view: View,
    units: SketchUnits,
    method: str,
    target: torch.Tensor,
    goal: torch.Tensor | None = None,
    *,
    seed: int = 0,
    pieces_per_stroke: int = 3,
    options: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, float]:
    """Removal scores ``(B, S)`` of every stroke of ``units`` (stroke units) and the model
    evaluations they cost per sketch. ``target``: the class each sketch is read as ``(B,)``;
    ``goal``: the class to reach (targeted), or None."""
    if not units.whole_strokes:
        raise StrokelensError(f"the removal attack removes whole strokes; got {units.kind} units")
    method_cls = get_method(method)
    options = options or {}
    pieces = method_cls.unit_kind(view, None) == "piece"
    unit_set = units
    if pieces:
        unit_set = view.units_for(units.sketches, "piece", pieces_per_stroke=pieces_per_stroke)

    def scores_for(classes: torch.Tensor) -> tuple[torch.Tensor, float]:
        expl = method_cls(view).attribute(unit_set, target=classes.tolist(), seed=seed, **options)
        scores = expl.scores
        if pieces:
            scores = pool_to_strokes(scores, unit_set.unit_stroke.cpu(), units.max_units)
        return scores, expl.evaluations

    scores, cost = scores_for(target)
    if goal is not None and not method_cls.model_free:  # a goal class changes no model-free order
        against, more = scores_for(goal)
        scores, cost = scores - against, cost + more
    return scores, cost
