"""Views: how a model sees its input with some units removed (``z`` per unit in [0, 1]).

- `RasterSketchView`: a raster model (DoodleNet) through the differentiable rasteriser; unit ``k`` is
  drawn with opacity ``z_k`` in a frame fixed by the whole sketch.
- `VectorSketchView`: a model that takes a soft presence weight per stroke (the stroke transformer).

``view.game(units, target)`` binds a view to a batch's units and returns a `Game`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.games import Game, Target
from strokelens.sketch import Sketch
from strokelens.units import Units


class RasterSketchView:
    """A raster sketch model seen through a differentiable rendering preset."""

    def __init__(self, model: torch.nn.Module, renderer: torch.nn.Module | None = None) -> None:
        if renderer is None:
            from strokelens.render.presets import QuickDrawBitmap

            renderer = QuickDrawBitmap()
        self.model = model
        self.renderer = renderer.to(next(model.parameters()).device)
        self.class_names: Sequence[str] = model.class_names

    def game(self, units: Units, target: Target = "auto", score: str = "logit", max_rows: int = 512) -> Game:
        frame = self.renderer.frame(units.original)
        inputs = {"units": units, "frame": frame, "points": None}
        return Game(self, units, target, score, max_rows, inputs)

    def outputs(
        self, z: torch.Tensor, rows: torch.Tensor, units: Units, frame: torch.Tensor, points=None
    ) -> torch.Tensor:
        """Render the rows' sketches with unit opacities ``z`` and run the model."""
        return self.model(self._render(z, rows, units, frame, points))

    def _render(
        self, z: torch.Tensor, rows: torch.Tensor, units: Units, frame: torch.Tensor, points=None
    ) -> torch.Tensor:
        pts = units.points(points)[rows]
        batch = units.batch
        sub = replace(
            batch,
            points=pts,
            stroke_ids=batch.stroke_ids[rows],
            point_mask=batch.point_mask[rows],
            n_strokes=batch.n_strokes[rows],
            sketches=[batch.sketches[i] for i in rows.tolist()],
            parts=None,
            times=None,
        )
        return self.renderer(
            sub, unit_weight=z, segment_unit=units.segment_unit[rows], points=pts, frame=frame[rows]
        )

    def images(self, units: Units, z: torch.Tensor | None = None) -> torch.Tensor:
        """The model's input images ``(B, 1, H, W)`` for presence ``z`` (default: all present)."""
        rows = torch.arange(len(units.batch), device=units.n_units.device)
        if z is None:
            z = torch.ones(len(rows), units.max_units, device=rows.device)
        frame = self.renderer.frame(units.original)
        with torch.no_grad():
            return self._render(z, rows, units, frame, None)

    def footprints(self, units: Units, threshold: float = 0.05) -> torch.Tensor:
        """``(B, H, W)`` long: the unit whose ink dominates each pixel, plus 1; 0 where no unit inks it.
        The units' pixel footprints, for pixel-segment methods such as ``lime_image``."""
        b, k = len(units.batch), units.max_units
        frame = self.renderer.frame(units.original)
        rows = torch.arange(b, device=units.n_units.device).repeat_interleave(k)
        z = torch.eye(k, device=rows.device).repeat(b, 1)
        with torch.no_grad():
            ink = self._render(z, rows, units, frame, None)
        ink = ink.view(b, k, *ink.shape[-2:])
        best = ink.max(dim=1)
        return torch.where(best.values > threshold, best.indices + 1, torch.zeros_like(best.indices))


class VectorSketchView:
    """A vector sketch model taking ``forward(points, stroke_ids, presence)``; units must be strokes."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.class_names: Sequence[str] = model.class_names

    def game(self, units: Units, target: Target = "auto", score: str = "logit", max_rows: int = 1024) -> Game:
        if units.kind != "stroke":
            raise StrokelensError(f"{type(self.model).__name__} reads whole strokes; use stroke units")
        points, stroke_ids = self.model.prepare(units.batch)
        inputs = {"points": points, "stroke_ids": stroke_ids}
        return Game(self, units, target, score, max_rows, inputs)

    def outputs(
        self, z: torch.Tensor, rows: torch.Tensor, points: torch.Tensor, stroke_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.model(points[rows], stroke_ids[rows], presence=z)


def view_for(model: torch.nn.Module, **kwargs: Any) -> RasterSketchView | VectorSketchView:
    """The view that fits ``model.input_kind``."""
    kind = getattr(model, "input_kind", None)
    if kind == "raster-sketch":
        return RasterSketchView(model, **kwargs)
    if kind == "vector-sketch":
        return VectorSketchView(model, **kwargs)
    raise StrokelensError(f"no sketch view for a model with input_kind {kind!r}")


def preprocess(sketches: Sequence[Sketch], model: torch.nn.Module, simplify: bool = True) -> list[Sketch]:
    """Sketches as a model is explained on them.

    For raster sketch models the QuickDraw "simplified" recipe (0-255 frame, RDP epsilon 2) keeps every
    stroke and its look at 28x28 while cutting the segments to render several-fold. Strokes keep their
    order and part labels, so scores map back one-to-one.
    """
    if simplify and getattr(model, "input_kind", None) == "raster-sketch":
        return [s.quickdraw_simplified() for s in sketches]
    return list(sketches)
