"""A fast differentiable rasteriser for batches of line segments (round caps and joins).

Maths (shared with the dense reference in `strokelens.render.dense`):

- A pixel's centre is at ``(j + 0.5, i + 0.5)`` (x right, y down). Its distance ``d`` to a segment gives
  a soft coverage ``c = clamp((w/2 - d) / softness + 1/2, 0, 1 - 1e-6)``: 1 inside the line, 0 outside,
  a linear ramp ``softness`` pixels wide across the edge (the area coverage of a straight edge when
  ``softness`` is 1). Segments are capsules, so caps and joins are round; ``start == end`` is a dot.
- Within one unit, a pixel takes the coverage of its nearest segment only (the union of the
  capsules, as a pen stroke is drawn). Neighbours are adjacent entries of the segment axis with the
  same unit id; a segment is *joined* when its previous neighbour ends exactly where it starts.
  Each pair of neighbours has one winner at a pixel: the nearer one (the earlier one on a tie),
  except that a joined segment always loses the pixels that project before its start (``t < 0``:
  the previous segment, which ends there, is at least as near). A segment counts a pixel when it
  wins against both neighbours. Every pixel within reach of a unit has a winner (a joined segment
  never wins against its predecessor, so the chain of pairwise winners ends at an eligible
  segment), and there is exactly one along a polyline whose distance to the pixel has one local
  minimum; a stroke that crosses or doubles back on itself combines its passes like two units.
- Units combine like layers of ink with opacity ``z_u * c_u``:
  ``ink = 1 - prod_u (1 - z_u c_u) = 1 - exp(sum log1p(-z_u c_u))``. A unit with ``z_u = 0``
  contributes ``log1p(0) = 0`` to the sum, so the picture is exactly the picture without that unit;
  the clamp ``c <= 1 - 1e-6`` keeps every log finite so the gradient with respect to ``z`` never
  vanishes through saturation of the unit itself.

The pixel-segment pairs themselves come from `strokelens.render.pairs` (cost grows with the ink, not
with canvas x segments); `_Ink` scatters their log transmittances into the flat ``(B*H*W)`` canvas
with ``index_add``. Backward is hand-written: the forward pass keeps, for each inked (pixel,
segment) pair, the pixel index, the segment and three or four numbers. `strokelens.render.coverage`
keeps the presence-independent half (the coverage of every pair) to composite with many weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from strokelens.render.coverage import CHUNK_PAIRS, InkCoverage, ink_coverage
from strokelens.render.pairs import (
    CHUNK_CANDIDATES,
    COVERAGE_EPS,
    _canvas,
    _coverage_ramp,
    _inked_pairs,
    _Segments,
    _size2,
    check_segments,
    coverage,
    distance2,
    neighbours,
    segment_params,
    start_bound,
)


class _Chunk:
    """The inked (pixel, segment) pairs of one chunk of pieces, with what backward needs."""

    __slots__ = ("dz", "gx", "gy", "pix", "seg", "tc")

    def __init__(self, pix: Tensor, seg: Tensor) -> None:
        self.pix, self.seg = pix, seg
        self.dz = self.gx = self.gy = self.tc = None


class _Ink(torch.autograd.Function):
    """``ink = 1 - exp(sum over inked (pixel, segment) pairs of log(1 - z c))``, shape ``(B, H, W)``."""

    @staticmethod
    def forward(ctx, starts, ends, weight, segment_unit, height, width, line_width, softness, max_len):
        dev, dt = starts.device, starts.dtype
        bsz, m = segment_unit.shape
        want_xy = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        want_z = weight is not None and ctx.needs_input_grad[2]

        segs = _Segments(starts, ends, segment_unit)
        flat, seg_b, seg_u = segs.flat, segs.seg_b, segs.seg_u
        if weight is not None:
            z_seg = weight.reshape(-1).index_select(0, seg_b * weight.shape[1] + seg_u)
        else:
            z_seg = torch.ones(len(flat), dtype=dt, device=dev)
        log_t = torch.zeros(bsz * height * width, dtype=dt, device=dev)
        chunks: list[_Chunk] = []
        inv_soft = 1.0 / softness
        for pix, seg, d2, t, qx, qy in _inked_pairs(segs, height, width, line_width, softness, max_len):
            d = d2.sqrt()
            raw, c = _coverage_ramp(d, line_width, softness)
            z = z_seg.index_select(0, seg)
            denom = 1.0 - z * c
            log_t.index_add_(0, pix, torch.log(denom))
            chunk = _Chunk(pix, seg)
            if want_z:
                chunk.dz = c / denom  # minus d term / d z
            if want_xy:
                # d term/d d = (z / denom) / softness on the ramp (0 where the coverage is clamped)
                # and d d/d (nearest point) = -q / d: keep slope * q, minus d term/d (nearest point).
                slope = torch.where((raw > 0) & (raw < 1.0 - COVERAGE_EPS) & (d > 0), z / denom, 0.0)
                slope = slope * (inv_soft / d.clamp_min(torch.finfo(dt).tiny))
                chunk.gx, chunk.gy, chunk.tc = slope * qx, slope * qy, t.clamp(0.0, 1.0)
            chunks.append(chunk)

        ink = log_t.expm1_().neg_().view(bsz, height, width)
        ctx.chunks = chunks
        ctx.shape = (bsz, m)
        ctx.n_units = None if weight is None else weight.shape[1]
        ctx.save_for_backward(ink, flat, seg_b, seg_u)
        return ink

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ink):
        ink, flat, seg_b, seg_u = ctx.saved_tensors
        bsz, m = ctx.shape
        dev, dt = grad_ink.device, grad_ink.dtype
        want_xy = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        want_z = ctx.needs_input_grad[2] and ctx.n_units is not None
        n_seg = len(flat)
        g_flat, ink_flat = grad_ink.reshape(-1), ink.reshape(-1)
        acc = torch.zeros(4 if want_xy else 0, n_seg, dtype=dt, device=dev)  # sum g*gx, g*gy, and * tc
        gz = torch.zeros(bsz * ctx.n_units if want_z else 0, dtype=dt, device=dev)
        z_index = seg_b * ctx.n_units + seg_u if want_z else None
        for ch in ctx.chunks:
            # d loss / d log-transmittance at each entry's pixel: grad * d ink / d S = grad * (ink - 1).
            g = g_flat.index_select(0, ch.pix) * (ink_flat.index_select(0, ch.pix) - 1.0)
            if want_z:
                gz.index_add_(0, z_index.index_select(0, ch.seg), g * ch.dz)
            if want_xy:
                gx, gy = g * ch.gx, g * ch.gy
                acc[0].index_add_(0, ch.seg, gx)
                acc[1].index_add_(0, ch.seg, gy)
                acc[2].index_add_(0, ch.seg, gx * ch.tc)
                acc[3].index_add_(0, ch.seg, gy * ch.tc)
        grad_a = grad_b = grad_z = None
        if want_xy:
            full = torch.zeros(bsz * m, 4, dtype=dt, device=dev)
            full[flat] = torch.stack([acc[2] - acc[0], acc[3] - acc[1], -acc[2], -acc[3]], 1)
            grad_a = full[:, :2].reshape(bsz, m, 2)
            grad_b = full[:, 2:].reshape(bsz, m, 2)
        if want_z:
            grad_z = gz.neg_().view(bsz, ctx.n_units)
        return grad_a, grad_b, grad_z, None, None, None, None, None, None


def rasterize(
    starts: Tensor,
    ends: Tensor,
    segment_unit: Tensor,
    unit_weight: Tensor | None = None,
    *,
    size: int | tuple[int, int],
    line_width: float,
    supersample: int = 1,
    softness: float = 1.0,
    piece_length: float | None = None,
) -> Tensor:
    """Draw segments with round caps and joins: ink in [0, 1], shape ``(B, H, W)``.

    ``starts``/``ends``: ``(B, M, 2)`` pixel coordinates of the output canvas (x right, y down; pixel
    ``(i, j)`` has its centre at ``(j + 0.5, i + 0.5)``), differentiable. ``segment_unit``: ``(B, M)``
    long, the unit of each segment, ``-1`` for padding; a segment with ``start == end`` is a dot.
    ``unit_weight``: ``(B, U)`` opacity of each unit (``None``: all 1), differentiable.
    ``line_width`` is in output pixels; ``supersample`` draws at that many times the resolution and
    averages down; ``softness`` is the width of the coverage ramp in (supersampled) pixels.
    ``piece_length`` (supersampled pixels) sets how segments are cut for the pixel windows; by
    default the length that gives the fewest window pixels for the segments at hand is chosen.
    """
    check_segments(starts, ends, segment_unit, unit_weight)
    h, w, s, wid, soft, max_len = _canvas(size, line_width, supersample, softness, piece_length)
    if unit_weight is not None:
        unit_weight = unit_weight.to(starts.dtype)
    ink = _Ink.apply(starts * s, ends * s, unit_weight, segment_unit.long(), h * s, w * s, wid, soft, max_len)
    if s > 1:
        ink = F.avg_pool2d(ink[:, None], s)[:, 0]
    return ink


class Rasterizer(nn.Module):
    """`rasterize` with its drawing settings bound: ``Rasterizer(28, 1.5)(starts, ends, unit, weight)``."""

    def __init__(
        self,
        size: int | tuple[int, int],
        line_width: float,
        supersample: int = 1,
        softness: float = 1.0,
        piece_length: float | None = None,
    ) -> None:
        super().__init__()
        self.size = _size2(size)
        self.line_width = float(line_width)
        self.supersample = int(supersample)
        self.softness = float(softness)
        self.piece_length = piece_length

    def forward(
        self, starts: Tensor, ends: Tensor, segment_unit: Tensor, unit_weight: Tensor | None = None
    ) -> Tensor:
        return rasterize(
            starts,
            ends,
            segment_unit,
            unit_weight,
            size=self.size,
            line_width=self.line_width,
            supersample=self.supersample,
            softness=self.softness,
            piece_length=self.piece_length,
        )

    def coverage(self, starts: Tensor, ends: Tensor, segment_unit: Tensor) -> InkCoverage:
        """`ink_coverage` with these settings: composite it with any unit weights later."""
        return ink_coverage(
            starts,
            ends,
            segment_unit,
            size=self.size,
            line_width=self.line_width,
            supersample=self.supersample,
            softness=self.softness,
            piece_length=self.piece_length,
        )

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, line_width={self.line_width:g}, supersample={self.supersample}, "
            f"softness={self.softness:g}"
        )


__all__ = [
    "CHUNK_CANDIDATES",
    "CHUNK_PAIRS",
    "COVERAGE_EPS",
    "InkCoverage",
    "Rasterizer",
    "check_segments",
    "coverage",
    "distance2",
    "ink_coverage",
    "neighbours",
    "rasterize",
    "segment_params",
    "start_bound",
]
