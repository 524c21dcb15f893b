"""Stroke location inversion (recover / transfer), after SketchXAI, on any sketch view.

- `problem`: a batch of sketches as a function of its stroke locations (`LocationProblem`).
- `modes`: recover and transfer as objects (`InversionMode`): where locations start, what the goals are.
- `optimise`: `invert`, projected and clipped SGD on those locations.
- `result`: `InversionResult`, what one run did and its per-sketch figures.
"""

from strokelens.games import class_index
from strokelens.inversion.modes import INVERSION_MODES, MODES, Goal, InversionMode, inversion_mode
from strokelens.inversion.optimise import cosine_lr, frozen, invert
from strokelens.inversion.problem import (
    NOISE_KINDS,
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
    "INVERSION_MODES",
    "MODES",
    "NOISE_KINDS",
    "Goal",
    "InversionMode",
    "InversionResult",
    "LocationProblem",
    "bbox_centre",
    "class_index",
    "cosine_lr",
    "frozen",
    "inversion_mode",
    "invert",
    "location_bounds",
    "noisy_locations",
    "place",
    "stroke_offsets",
    "stroke_starts",
]
