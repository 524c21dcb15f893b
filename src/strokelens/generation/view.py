"""`CompletionView`: the completion model seen through a partial drawing's strokes, in the whole
drawing's frame, so any method explains which given strokes produced a generated region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.generation.data import WHOLE_BBOX
from strokelens.models.completion import CompletionNet
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units.strokes import SketchUnits
from strokelens.views.raster import RasterSketchView


class CompletionView(RasterSketchView):
    """A completion model seen through the strokes of a partial drawing: unit ``k`` drawn with opacity
    ``z_k`` by the model's canvas, **in the whole drawing's frame** (``view.game(units, target,
    frame=...)``: the frame ``(B, 3)`` of `SketchCanvas.frame`, or the whole sketches; default: the
    partial drawing's own frame). Outputs are the generated ink ``(R, 1, H, W)``, not class logits:
    targets are callables (`strokelens.targets.region`, ...) and scores are raw (``logit``)."""

    outputs_are_logits = False
    kind = kinds.RASTER_GENERATOR

    def __init__(self, model: CompletionNet, cache: bool = True) -> None:
        if not isinstance(model, CompletionNet):
            raise StrokelensError(f"CompletionView takes a CompletionNet, got {type(model).__name__}")
        super().__init__(model, renderer=model.config.renderer(), simplify=model.config.simplify, cache=cache)
        self.class_names: Sequence[str] = ["ink"]

    def prepare(self, inputs: Sequence[Sketch]) -> list[Sketch]:
        """Unchanged: a partial drawing must keep the whole drawing's coordinates (simplify the
        whole sketches with `prepare_sketches` before removing strokes)."""
        return list(inputs)

    def frame(self, units: SketchUnits, frame: torch.Tensor | Sequence[Sketch] | None = None) -> torch.Tensor:
        """``(B, 3)``: the canvas frame of each partial drawing: ``frame`` as given (a tensor, or the
        whole sketches), else each sketch's ``meta["whole_bbox"]`` (set by `partial_sketches`), else
        the partial drawing's own extent."""
        b = len(units)
        if isinstance(frame, torch.Tensor):
            frame_t = frame.detach().to(self.device, units.original.points.dtype)
        else:
            if frame is None:
                boxes = [s.meta.get(WHOLE_BBOX) for s in units.original.sketches]
                if all(box is None for box in boxes):
                    return self.renderer.frame(units.original)
                frame = [
                    Sketch([[box[0], box[1]], [box[2], box[3]]]) if box is not None else s
                    for box, s in zip(boxes, units.original.sketches, strict=True)
                ]
            frame = list(frame)
            if len(frame) != b or not all(isinstance(s, Sketch) for s in frame):
                raise StrokelensError(
                    f"frame must be a ({b}, 3) tensor or {b} whole sketches, got {len(frame)} items"
                )
            batch = SketchBatch.from_sketches(frame, device=self.device, dtype=units.original.points.dtype)
            frame_t = self.renderer.frame(batch)
        if tuple(frame_t.shape) != (b, 3):
            raise StrokelensError(
                f"frame must have shape ({b}, 3) for {b} drawings, got {tuple(frame_t.shape)}"
            )
        return frame_t

    def bind(
        self,
        units: SketchUnits,
        cache: bool | None = None,
        frame: torch.Tensor | Sequence[Sketch] | None = None,
    ) -> dict[str, Any]:
        """The frame (see `frame`) and, with ``cache`` (default: the view's), the units' pixel
        coverage in it."""
        frame_t = self.frame(units, frame)
        inputs: dict[str, Any] = {"units": units, "frame": frame_t}
        if self.cache if cache is None else cache:
            inputs["coverage"] = self.renderer.coverage(
                units.batch, segment_unit=units.segment_unit, frame=frame_t, points=units.points()
            )
        return inputs
