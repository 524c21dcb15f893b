"""Rendering presets: a `SketchBatch` in, a batch of images out, differentiable throughout.

`SketchCanvas` centres each sketch in a square canvas with its longer side spanning a fixed number
of pixels and draws it with the differentiable rasteriser. `QuickDrawBitmap` is the QuickDraw 28x28
bitmap recipe that DoodleNet was trained on (see `strokelens.render.reference` for the plain
rendering it reproduces).

The frame (scale and offset from raw coordinates to pixels) comes from the whole sketch's bounding
box and is detached: it does not move when a unit's weight goes to 0 or when points are optimised,
so attributions and stroke-location inversion see one fixed canvas. Pass ``frame=`` to reuse one.

When the points are fixed, ``coverage(batch)`` does the presence-independent work once (which pixels
each segment inks, and how much) and ``composite(coverage, unit_weight, rows)`` draws any unit
opacities from it, equal to ``forward`` on the rows' sketches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from strokelens.errors import StrokelensError
from strokelens.render.rasteriser import InkCoverage, ink_coverage, rasterize
from strokelens.render.reference import QD_CANVAS, QD_LINE
from strokelens.sketch import SketchBatch

#: Share of the canvas side that the sketch's longer side spans in the QuickDraw recipe (255 / 304).
QD_EXTENT = 255.0 / QD_CANVAS
#: Line width as a share of the canvas side in the QuickDraw recipe (16 / 304).
QD_LINE_SHARE = QD_LINE / QD_CANVAS


class SketchCanvas(nn.Module):
    """Draw each sketch centred in a ``size`` x ``size`` canvas: ``(B, 1, size, size)`` ink in [0, 1].

    ``extent``: pixels spanned by the sketch's longer side (default: the QuickDraw recipe's share,
    255/304 of the side). ``line_width``: in pixels (default: the recipe's 16/304 of the side).
    ``supersample`` and ``softness`` as in `strokelens.render.rasteriser.rasterize`.
    """

    def __init__(
        self,
        size: int = 256,
        line_width: float | None = None,
        extent: float | None = None,
        supersample: int = 1,
        softness: float = 1.0,
    ) -> None:
        super().__init__()
        if size < 1:
            raise StrokelensError(f"canvas size must be positive, got {size}")
        self.size = int(size)
        self.line_width = float(line_width) if line_width is not None else QD_LINE_SHARE * size
        self.extent = float(extent) if extent is not None else QD_EXTENT * size
        self.supersample = int(supersample)
        self.softness = float(softness)

    def frame(self, batch: SketchBatch) -> Tensor:
        """``(B, 3)``: per sketch ``(scale, offset_x, offset_y)``, pixel = raw * scale + offset; detached."""
        pts = batch.points.detach()
        mask = batch.point_mask[..., None]
        big = torch.finfo(pts.dtype).max
        lo = torch.where(mask, pts, big).amin(1)
        hi = torch.where(mask, pts, -big).amax(1)
        longest = (hi - lo).amax(1)
        scale = torch.where(longest > 0, self.extent / longest.clamp_min(1e-12), 1.0)
        offset = self.size / 2 - (lo + hi) / 2 * scale[:, None]
        return torch.cat([scale[:, None], offset], 1)

    @staticmethod
    def to_pixels(points: Tensor, frame: Tensor) -> Tensor:
        """Raw ``(B, N, 2)`` points to canvas pixels by ``frame`` (from `frame`)."""
        return points * frame[:, None, :1] + frame[:, None, 1:]

    def forward(
        self,
        batch: SketchBatch,
        unit_weight: Tensor | None = None,
        segment_unit: Tensor | None = None,
        points: Tensor | None = None,
        frame: Tensor | None = None,
    ) -> Tensor:
        """Render ``batch``: units default to strokes, points to ``batch.points`` (pass optimised ones).

        ``unit_weight``: ``(B, U)`` opacity per unit; ``segment_unit``: ``(B, N)`` unit of the segment
        that starts at each point (``-1`` = not drawn), same layout as ``batch.stroke_ids``.
        """
        if frame is None:
            frame = self.frame(batch)
        pts = batch.points if points is None else points
        if pts.shape != batch.points.shape:
            want = tuple(batch.points.shape)
            raise StrokelensError(f"points must have shape {want}, got {tuple(pts.shape)}")
        starts, ends, stroke = batch.segments(self.to_pixels(pts, frame.to(pts.dtype)))
        unit = stroke if segment_unit is None else torch.where(stroke >= 0, segment_unit, -1)
        ink = rasterize(
            starts,
            ends,
            unit,
            unit_weight,
            size=self.size,
            line_width=self.line_width,
            supersample=self.supersample,
            softness=self.softness,
        )
        return ink[:, None]

    def coverage(
        self,
        batch: SketchBatch,
        segment_unit: Tensor | None = None,
        frame: Tensor | None = None,
        points: Tensor | None = None,
    ) -> InkCoverage:
        """The presence-independent part of `forward`, for fixed points (they are not differentiated).

        Arguments as in `forward`. Draw it with `composite`.
        """
        if frame is None:
            frame = self.frame(batch)
        pts = (batch.points if points is None else points).detach()
        if pts.shape != batch.points.shape:
            want = tuple(batch.points.shape)
            raise StrokelensError(f"points must have shape {want}, got {tuple(pts.shape)}")
        starts, ends, stroke = batch.segments(self.to_pixels(pts, frame.to(pts.dtype)))
        unit = stroke if segment_unit is None else torch.where(stroke >= 0, segment_unit, -1)
        return ink_coverage(
            starts,
            ends,
            unit,
            size=self.size,
            line_width=self.line_width,
            supersample=self.supersample,
            softness=self.softness,
        )

    def colour(self, alpha: Tensor) -> Tensor:
        """Ink opacity ``(B, 1, H, W)`` to the model input: the opacity itself (a preset that colours
        and normalises overrides this; every override is affine in the opacity)."""
        return alpha

    def composite(self, coverage: InkCoverage, unit_weight: Tensor, rows: Tensor | None = None) -> Tensor:
        """``(R, 1, size, size)``: items ``rows`` of ``coverage`` drawn with unit opacities ``unit_weight``
        ``(R, U)``; equals `forward` on those sketches with the same frame, and is differentiable in
        ``unit_weight``."""
        if coverage.size != (self.size, self.size) or coverage.supersample != self.supersample:
            raise StrokelensError(
                f"this coverage is for a {coverage.size} canvas at supersample {coverage.supersample}, "
                f"not {self.size}x{self.size} at {self.supersample}"
            )
        return coverage.composite(unit_weight, rows)[:, None]

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, line_width={self.line_width:g}, extent={self.extent:g}, "
            f"supersample={self.supersample}, softness={self.softness:g}"
        )


class QuickDrawBitmap(SketchCanvas):
    """The QuickDraw 28x28 bitmap recipe, differentiable: ``(B, 1, 28, 28)``, white ink on black.

    Longer side scaled to 255 of 304 canvas units and centred, 16-unit round line, anti-aliased.
    """

    def __init__(self, size: int = 28, supersample: int = 1, softness: float = 1.0) -> None:
        super().__init__(size=size, supersample=supersample, softness=softness)


Colour = float | tuple[float, ...]


def _per_channel(value: Colour, channels: int, what: str) -> Tensor:
    """``value`` (one number, or one per channel) as a ``(channels, 1, 1)`` tensor."""
    vals = [float(value)] if isinstance(value, int | float) else [float(v) for v in value]
    if len(vals) == 1:
        vals = vals * channels
    if len(vals) != channels:
        raise StrokelensError(f"{what} needs 1 or {channels} values for {channels} channels, got {len(vals)}")
    return torch.tensor(vals, dtype=torch.float32).view(channels, 1, 1)


class RasterPreset(SketchCanvas):
    """A configurable, differentiable raster recipe: match how your raster model was trained.

    ``size``: canvas side in pixels. ``line_width``: in pixels (default: the QuickDraw share, 16/304
    of the side). ``padding``: pixels kept free on each side of the sketch's longer side (default:
    the QuickDraw share, 24.5/304 of the side); ``centre``: centre the sketch (else put its
    bounding box at the top-left corner, ``padding`` in). ``ink`` and ``background``: colours in
    [0, 1], a grey level or one value per channel; ``channels``: 1 or 3. ``mean`` and ``std``: the
    normalisation applied last, ``(image - mean) / std`` (one value or one per channel).

    Output ``(B, channels, size, size)``. The defaults are the QuickDraw 28x28 bitmap (white ink on
    black, one channel, no normalisation): ``RasterPreset()`` draws what `QuickDrawBitmap` draws.
    A 224x224 RGB dark-on-white model: ``RasterPreset(size=224, ink=0.0, background=1.0,
    channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))``.
    """

    def __init__(
        self,
        size: int = 28,
        line_width: float | None = None,
        padding: float | None = None,
        centre: bool = True,
        ink: Colour = 1.0,
        background: Colour = 0.0,
        channels: int = 1,
        mean: Colour = 0.0,
        std: Colour = 1.0,
        supersample: int = 1,
        softness: float = 1.0,
    ) -> None:
        if channels not in (1, 3):
            raise StrokelensError(f"channels must be 1 or 3, got {channels}")
        extent = None if padding is None else size - 2 * float(padding)
        if extent is not None and extent <= 0:
            raise StrokelensError(f"padding {padding} leaves no room on a {size}-pixel canvas")
        if line_width is not None and line_width <= 0:
            raise StrokelensError(f"line width must be positive, got {line_width}")
        super().__init__(
            size=size, line_width=line_width, extent=extent, supersample=supersample, softness=softness
        )
        self.padding = (self.size - self.extent) / 2
        self.centre = bool(centre)
        self.channels = int(channels)
        self.options = {
            "size": self.size,
            "line_width": self.line_width,
            "padding": self.padding,
            "centre": self.centre,
            "ink": ink,
            "background": background,
            "channels": self.channels,
            "mean": mean,
            "std": std,
        }
        std_t = _per_channel(std, channels, "std")
        if bool((std_t == 0).any()):
            raise StrokelensError("std must not be 0")
        ink_t, bg_t = _per_channel(ink, channels, "ink"), _per_channel(background, channels, "background")
        self.register_buffer("ink", ink_t, persistent=False)
        self.register_buffer("background", bg_t, persistent=False)
        self.register_buffer("mean", _per_channel(mean, channels, "mean"), persistent=False)
        self.register_buffer("std", std_t, persistent=False)
        #: Largest change one fully inked pixel makes to the model input (footprints divide by it).
        self.contrast = float(((ink_t - bg_t).abs() / std_t.abs()).max())
        if self.contrast == 0:
            raise StrokelensError("ink and background are the same colour")

    def frame(self, batch: SketchBatch) -> Tensor:
        """As `SketchCanvas.frame`; with ``centre=False`` the bounding box starts ``padding`` in."""
        frame = super().frame(batch)
        if self.centre:
            return frame
        pts = batch.points.detach()
        lo = torch.where(batch.point_mask[..., None], pts, torch.finfo(pts.dtype).max).amin(1)
        return torch.cat([frame[:, :1], self.padding - lo * frame[:, :1]], 1)

    def colour(self, alpha: Tensor) -> Tensor:
        """``(B, 1, H, W)`` ink opacity to the model input ``(B, channels, H, W)``."""
        ink, bg = self.ink.to(alpha.dtype), self.background.to(alpha.dtype)
        image = bg + (ink - bg) * alpha
        return (image - self.mean.to(alpha.dtype)) / self.std.to(alpha.dtype)

    def forward(self, batch: SketchBatch, *args, **kwargs) -> Tensor:
        return self.colour(super().forward(batch, *args, **kwargs))

    def composite(self, coverage: InkCoverage, unit_weight: Tensor, rows: Tensor | None = None) -> Tensor:
        return self.colour(super().composite(coverage, unit_weight, rows))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.options.items())
