"""The raster sketch view: a raster model (DoodleNet) sees unit ``k`` drawn with opacity ``z_k``
through a differentiable rendering preset, in a frame fixed by the whole sketch.

With the cache on (the default), `bind` computes which pixels each segment inks, and how much, once
per game (``renderer.coverage``: it does not depend on ``z``) and every coalition is composited from
it; calls that pass their own ``points`` (P-SLA, inversion) render from those points as before."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from strokelens import kinds
from strokelens.simplify import quickdraw_simplified_many
from strokelens.sketch import Sketch
from strokelens.units.strokes import SketchUnits
from strokelens.views.base import View
from strokelens.views.sketch_common import SKETCH_UNIT_OPTIONS, make_sketch_units


class RasterSketchView(View):
    """A raster sketch model seen through a differentiable rendering preset (default: the QuickDraw
    28x28 bitmap). ``simplify``: explain sketches simplified by QuickDraw's recipe (`prepare`)."""

    units_type = SketchUnits
    kind = kinds.RASTER_SKETCH
    takes_points = True
    empty_is_constant = True
    sketch_points = True
    max_rows = 512

    def __init__(
        self,
        model: torch.nn.Module,
        renderer: torch.nn.Module | None = None,
        simplify: bool = True,
        cache: bool = True,
    ) -> None:
        if renderer is None:
            renderer = getattr(model, "raster_preset", None)  # set by `strokelens.wrap`
        if renderer is None:
            from strokelens.render.presets import QuickDrawBitmap

            renderer = QuickDrawBitmap()
        self.model = model
        self.renderer = renderer.to(self.device)
        self.simplify = simplify
        self.class_names: Sequence[str] = model.class_names
        #: Default of `bind`'s ``cache`` (``view.game(units, cache=...)`` overrides it per game).
        self.cache = cache

    def prepare(self, inputs: Sequence[Sketch]) -> list[Sketch]:
        """QuickDraw's "simplified" recipe (0-255 frame, RDP epsilon 2) keeps every stroke and its look
        at 28x28 while cutting the segments to render several-fold; strokes keep order and parts."""
        if not self.simplify:
            return list(inputs)
        return quickdraw_simplified_many(inputs)

    def make_units(self, inputs: Sequence[Sketch], **options: Any) -> SketchUnits:
        return make_sketch_units(inputs, self.device, **options)

    def unit_options(self) -> tuple[str, ...]:
        return SKETCH_UNIT_OPTIONS

    def bind(self, units: SketchUnits, cache: bool | None = None) -> dict[str, Any]:
        """The frame and, with ``cache`` (default: the view's), the units' pixel coverage."""
        frame = self.renderer.frame(units.original)
        inputs: dict[str, Any] = {"units": units, "frame": frame}
        if (self.cache if cache is None else cache) and hasattr(self.renderer, "coverage"):
            inputs["coverage"] = self.renderer.coverage(
                units.batch, segment_unit=units.segment_unit, frame=frame, points=units.points()
            )
        return inputs

    def points(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = inputs["units"].original
        sid = torch.where(batch.point_mask, batch.stroke_ids, torch.full_like(batch.stroke_ids, -1))
        return batch.points, sid

    def outputs(
        self,
        z: torch.Tensor,
        rows: torch.Tensor,
        units: SketchUnits,
        frame: torch.Tensor,
        points: torch.Tensor | None = None,
        coverage: Any = None,
    ) -> torch.Tensor:
        """Render the rows' sketches with unit opacities ``z`` and run the model. ``points``: the
        original batch's points ``(B, N, 2)`` to draw instead of its own (differentiable)."""
        return self.model(self.render(z, rows, units, frame, points, coverage))

    def render(
        self,
        z: torch.Tensor,
        rows: torch.Tensor,
        units: SketchUnits,
        frame: torch.Tensor,
        points: torch.Tensor | None = None,
        coverage: Any = None,
    ) -> torch.Tensor:
        """The model's input images ``(R, C, H, W)`` for presence ``z`` of items ``rows``: composited
        from the bound ``coverage`` when there is one and no ``points`` are given."""
        if points is None and coverage is not None:
            return self.renderer.composite(coverage, z, rows)
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

    def images(self, units: SketchUnits, z: torch.Tensor | None = None) -> torch.Tensor:
        """The model's input images ``(B, C, H, W)`` for presence ``z`` (default: all present)."""
        units = units.to(self.device)
        rows = torch.arange(len(units), device=self.device)
        if z is None:
            z = torch.ones(len(rows), units.max_units, device=self.device)
        with torch.no_grad():
            return self.render(z.to(self.device), rows, **self.bind(units))

    def footprints(self, units: SketchUnits, threshold: float = 0.05) -> torch.Tensor:
        """``(B, H, W)`` long: the unit whose ink dominates each pixel, plus 1; 0 where no unit inks it.
        The units' pixel footprints, for pixel-segment methods such as ``lime_image``."""
        units = units.to(self.device)
        b, k = len(units), units.max_units
        rows = torch.arange(b, device=self.device).repeat_interleave(k)
        z = torch.eye(k, device=self.device).repeat(b, 1)
        with torch.no_grad():
            inputs = self.bind(units)
            image = self.render(z, rows, **inputs)
            blank = self.render(torch.zeros_like(z[:1]), rows[:1], **inputs)
        # Ink as the change from the blank canvas, in [0, 1] whatever the preset's colours (QuickDraw:
        # the image itself).
        ink = (image - blank).abs().amax(1) / getattr(self.renderer, "contrast", 1.0)
        ink = ink.view(b, k, *ink.shape[-2:])
        best = ink.max(dim=1)
        return torch.where(best.values > threshold, best.indices + 1, torch.zeros_like(best.indices))
