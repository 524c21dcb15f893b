"""Reading drawings afresh: the model's own preparation, then one forward pass for a whole batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from strokelens.sketch import Sketch
from strokelens.views import RasterSketchView, View


def probabilities_of_prepared(view: View, prepared: Sequence[Sketch]) -> torch.Tensor:
    """``(B, C)`` softmax of the model on drawings ``view.prepare`` gave, every stroke present.

    A raster view skips its per-unit pixel cache (one rendering a drawing is all this needs)."""
    options = {"cache": False} if isinstance(view, RasterSketchView) else {}
    game = view.game(view.units_for(list(prepared), "stroke"), target=0, **options)
    return torch.softmax(game.full_outputs.double(), dim=1).detach().cpu()


def read(view: View, sketches: Sequence[Sketch], chunk: int = 256) -> torch.Tensor:
    """``(B, C)`` class probabilities of ``sketches`` read afresh, as a saved file is read: the view
    prepares them (DoodleNet: QuickDraw's recipe, re-framed around whatever strokes there are)."""
    if not sketches:
        return torch.zeros(0, len(view.class_names), dtype=torch.float64)
    parts = [
        probabilities_of_prepared(view, view.prepare(list(sketches[i : i + chunk])))
        for i in range(0, len(sketches), chunk)
    ]
    return torch.cat(parts)
