"""Exact Shapley values as training labels and held-out references for a learned explainer.

A drawing of ``K`` units costs ``2^K`` model evaluations (the view's game cache makes each one cheap),
so labels are computed for drawings of at most ``max_units`` units and left out (None) above. Every
class's values come from the same evaluations (`shapley_from_values` over all classes at once), in
the score space the explainer estimates. `ShapleyLabels` keeps them with what they cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from strokelens.attribution.shapley import (
    MAX_EXACT_UNITS,
    all_coalition_values,
    check_exact,
    shapley_from_values,
)
from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.views.base import View

#: Labels are exact up to this many units by default (4,096 evaluations a drawing).
DEFAULT_MAX_UNITS = 12


@dataclass
class ShapleyLabels:
    """Per input: exact Shapley values ``(K, C)`` of every class, or None above ``max_units``;
    the model evaluations and wall seconds they took."""

    values: list[torch.Tensor | None]
    max_units: int
    evaluations: int = 0
    seconds: float = 0.0
    score: str = "logit"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_labelled(self) -> int:
        return sum(v is not None for v in self.values)

    def subset(self, indices: Sequence[int]) -> ShapleyLabels:
        """The labels of ``indices`` (cost kept whole: it was paid for all of them)."""
        return ShapleyLabels([self.values[i] for i in indices], self.max_units, 0, 0.0, self.score)

    def summary(self) -> dict[str, Any]:
        """What the labels cost, for a training record."""
        return {
            "label_max_units": self.max_units,
            "labelled": self.n_labelled,
            "unlabelled": len(self.values) - self.n_labelled,
            "label_evaluations": self.evaluations,
            "label_seconds": round(self.seconds, 1),
        }


def game_labels(game: Game) -> torch.Tensor:
    """Exact Shapley values ``(B, K, C)`` of every class for every input of ``game`` (``2^k``
    evaluations for an input of ``k`` units), in the game's score space."""
    check_exact(game)
    n_classes = game.full_outputs.shape[-1]
    out = torch.zeros(game.batch_size, game.max_units, n_classes, dtype=torch.float64, device=game.device)

    def every_class(z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return game.transform(game.outputs(z, rows))

    for items, k, vals in all_coalition_values(game, every_class):  # vals: (inputs, 2^k, C)
        flat_vals = vals.permute(0, 2, 1).reshape(len(items) * n_classes, -1)
        out[items, :k] = shapley_from_values(flat_vals, k).view(len(items), n_classes, k).permute(0, 2, 1)
    return out.float()


def exact_labels(
    view: View,
    inputs: Sequence[Any],
    units: str | None = None,
    score: str = "logit",
    max_units: int = DEFAULT_MAX_UNITS,
    batch_size: int = 16,
) -> ShapleyLabels:
    """Exact Shapley labels of every class for ``inputs`` (as the view prepares them, like training
    does) with at most ``max_units`` units (None for the rest), ``units`` of the view's unit kind
    (strokes by default)."""
    if not 1 <= max_units <= MAX_EXACT_UNITS:
        raise StrokelensError(f"exact labels take 1 to {MAX_EXACT_UNITS} units, not {max_units}")
    start = time.perf_counter()
    inputs = view.prepare(inputs)
    options = {} if units is None else {"kind": units}
    values: list[torch.Tensor | None] = [None] * len(inputs)
    counts = [int(n) for n in view.units_for(list(inputs), **options).n_units] if inputs else []
    small = [i for i, n in enumerate(counts) if n <= max_units]
    small.sort(key=lambda i: counts[i])  # batches of like sizes: less padding
    evaluations = 0
    for s in range(0, len(small), batch_size):
        chunk = small[s : s + batch_size]
        game = view.game(view.units_for([inputs[i] for i in chunk], **options), "auto", score)
        labels = game_labels(game).cpu()
        evaluations += game.evaluations
        for row, i in enumerate(chunk):
            values[i] = labels[row, : counts[i]]
    return ShapleyLabels(values, max_units, evaluations, time.perf_counter() - start, score)
