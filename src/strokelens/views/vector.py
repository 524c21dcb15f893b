"""The vector sketch view: a model that takes a soft presence weight per stroke (the stroke
transformer), ``forward(points, stroke_ids, presence)``; presence 0 equals deleting the stroke.

With the cache on (the default) and a model that has ``encode``/``forward_encoded`` (the stroke
transformer), `bind` encodes the presence-independent part (per-stroke shape and location
embeddings) once per game and every coalition runs only the rest; calls that pass their own
``points`` run the whole model on them as before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch
from strokelens.units.strokes import STROKE, SketchUnits
from strokelens.views.base import View
from strokelens.views.sketch_common import make_sketch_units


class VectorSketchView(View):
    """A vector sketch model with ``prepare(batch) -> (points, stroke_ids)`` and
    ``forward(points, stroke_ids, presence)``; units must be whole strokes."""

    units_type = SketchUnits
    kind = kinds.VECTOR_SKETCH
    takes_points = True
    reads_stroke_order = True
    empty_is_constant = True
    max_rows = 1024

    def __init__(self, model: torch.nn.Module, cache: bool = True) -> None:
        self.model = model
        self.class_names: Sequence[str] = model.class_names
        #: Default of `bind`'s ``cache`` (``view.game(units, cache=...)`` overrides it per game).
        self.cache = cache

    def make_units(self, inputs: Sequence[Sketch], **options: Any) -> SketchUnits:
        self._check_strokes(options.pop("kind", STROKE))
        return make_sketch_units(inputs, self.device, kind=STROKE, **options)

    def _check_strokes(self, kind: str) -> None:
        if kind != STROKE:
            raise StrokelensError(f"{type(self.model).__name__} reads whole strokes; use stroke units")

    def unit_options(self) -> tuple[str, ...]:
        return ("kind",)

    def bind(self, units: SketchUnits, cache: bool | None = None) -> dict[str, Any]:
        """The model's points and, with ``cache`` (default: the view's), their encoding."""
        self._check_strokes(units.kind)
        points, stroke_ids = self.model.prepare(units.batch)
        inputs: dict[str, Any] = {"points": points, "stroke_ids": stroke_ids}
        if (self.cache if cache is None else cache) and hasattr(self.model, "forward_encoded"):
            with torch.no_grad():
                inputs["encoding"] = self.model.encode(points, stroke_ids, units.max_units)
            inputs["encoded_points"] = points  # the encoding holds for these points only
        return inputs

    def points(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's own points (normalised frame, every stroke resampled), not the sketch's."""
        return inputs["points"], inputs["stroke_ids"]

    def outputs(
        self,
        z: torch.Tensor,
        rows: torch.Tensor,
        points: torch.Tensor,
        stroke_ids: torch.Tensor,
        encoding: Any = None,
        encoded_points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # The cached encoding holds for the bound points, and carries no gradient to them.
        if encoding is not None and points is encoded_points and not points.requires_grad:
            return self.model.forward_encoded(encoding, presence=z, rows=rows)
        return self.model(points[rows], stroke_ids[rows], presence=z)
