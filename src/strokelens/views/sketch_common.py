"""What the sketch views share: turning sketches into stroke or piece units on the model's device."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from strokelens.sketch import Sketch, SketchBatch, sketch_list
from strokelens.units.strokes import SketchUnits, make_units

#: Options `make_sketch_units` accepts.
SKETCH_UNIT_OPTIONS = ("kind", "pieces_per_stroke", "piece_length")


def make_sketch_units(
    sketches: Sequence[Sketch] | SketchBatch,
    device: torch.device,
    kind: str = "stroke",
    pieces_per_stroke: int | None = 3,
    piece_length: float | None = None,
) -> SketchUnits:
    """Stroke or piece units of ``sketches`` (a list or a padded batch) on ``device``."""
    if isinstance(sketches, SketchBatch):
        batch = sketches.to(device)
    else:
        batch = SketchBatch.from_sketches(sketch_list(sketches, "a sketch view"), device=device)
    return make_units(batch, kind, pieces_per_stroke, piece_length)
