"""Stroke location inversion (recover / transfer), after SketchXAI, on any sketch view.

- `problem`: a batch of sketches as a function of its stroke locations (`LocationProblem`).
- `optimise`: `invert`, projected and clipped SGD on those locations.
- `result`: `InversionResult`, what one run did and its per-sketch figures.
"""

from strokelens.games import class_index
from strokelens.inversion.optimise import MODES, NOISE_KINDS, Goal, cosine_lr, frozen, invert
from strokelens.inversion.problem import (
    LocationProblem,
    bbox_centre,
    location_bounds,
    noisy_locations,
    place,
    stroke_offsets,
    stroke_starts,
)
from strokelens.inversion.result import InversionResult

__all__ = [
    "MODES",
    "NOISE_KINDS",
    "Goal",
    "InversionResult",
    "LocationProblem",
    "bbox_centre",
    "class_index",
    "cosine_lr",
    "frozen",
    "invert",
    "location_bounds",
    "noisy_locations",
    "place",
    "stroke_offsets",
    "stroke_starts",
]
