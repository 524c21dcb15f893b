"""A fast differentiable rasteriser for batches of line segments (round caps and joins).

Maths (shared with the dense reference in `strokelens.render.dense`):

- A pixel's centre is at ``(j + 0.5, i + 0.5)`` (x right, y down). Its distance ``d`` to a segment gives
  a soft coverage ``c = clamp((w/2 - d) / softness + 1/2, 0, 1 - 1e-6)``: 1 inside the line, 0 outside,
  a linear ramp ``softness`` pixels wide across the edge (the area coverage of a straight edge when
  ``softness`` is 1). Segments are capsules, so caps and joins are round; ``start == end`` is a dot.
- Within one unit, a pixel takes the coverage of its nearest segment only (the union of the
  capsules, as a pen stroke is drawn): segment ``k`` counts a pixel when it is strictly nearer than
  the next segment of its unit and no farther than the previous one (neighbours = adjacent entries
  of the segment axis with the same unit id). This is exact for polylines except where a stroke
  crosses itself, where the two passes combine like two units.
- Units combine like layers of ink with opacity ``z_u * c_u``:
  ``ink = 1 - prod_u (1 - z_u c_u) = 1 - exp(sum log1p(-z_u c_u))``. A unit with ``z_u = 0``
  contributes ``log1p(0) = 0`` to the sum, so the picture is exactly the picture without that unit;
  the clamp ``c <= 1 - 1e-6`` keeps every log finite so the gradient with respect to ``z`` never
  vanishes through saturation of the unit itself.

Cost grows with the ink, not with canvas x segments: every segment is cut into pieces no longer than a
fixed length, each piece enumerates the pixels of a fixed small window around it in one vectorised
step, a piece keeps only pixels whose projection falls on it (no pixel counted twice by one
segment) and that lie within reach of the line, and the log transmittances are scattered into the
flat ``(B*H*W)`` canvas with ``index_add``. Backward is hand-written: the forward pass keeps, for each
inked (pixel, segment) pair, the pixel index, the segment and three or four numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from strokelens.errors import StrokelensError

#: Coverage is clamped below 1 by this much so every ``log1p(-z c)`` stays finite.
COVERAGE_EPS = 1e-6
#: Candidate (piece, window pixel) pairs processed at once; bounds the forward's working memory.
CHUNK_CANDIDATES = 1 << 21
#: Slack, in pixels, when windows and candidate tests are cut, so rounding never drops a pixel.
_SLACK = 1e-3


def _size2(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def check_segments(starts: Tensor, ends: Tensor, segment_unit: Tensor, unit_weight: Tensor | None) -> None:
    """Raise `StrokelensError` when the segment tensors do not fit together."""
    if starts.ndim != 3 or starts.shape[-1] != 2 or ends.shape != starts.shape:
        raise StrokelensError(
            "starts and ends must both have shape (B, M, 2); "
            f"got {tuple(starts.shape)} and {tuple(ends.shape)}"
        )
    if segment_unit.shape != starts.shape[:2]:
        raise StrokelensError(
            f"segment_unit must have shape {tuple(starts.shape[:2])}, got {tuple(segment_unit.shape)}"
        )
    if unit_weight is not None:
        if unit_weight.ndim != 2 or unit_weight.shape[0] != starts.shape[0]:
            raise StrokelensError(
                f"unit_weight must have shape (B={starts.shape[0]}, U), got {tuple(unit_weight.shape)}"
            )
        if segment_unit.numel() and int(segment_unit.max()) >= unit_weight.shape[1]:
            raise StrokelensError(
                f"segment_unit holds unit {int(segment_unit.max())} but unit_weight has only "
                f"{unit_weight.shape[1]} units"
            )


def neighbours(segment_unit: Tensor) -> tuple[Tensor, Tensor]:
    """``(has_prev, has_next)``: whether segment ``k - 1`` / ``k + 1`` belongs to the same unit."""
    valid = segment_unit >= 0
    same = (segment_unit[:, 1:] == segment_unit[:, :-1]) & valid[:, 1:]
    no = torch.zeros_like(valid[:, :1])
    return torch.cat([no, same], 1), torch.cat([same, no], 1)


def segment_params(a: Tensor, b: Tensor) -> Tensor:
    """``(..., 5)``: start x, start y, direction x, direction y, 1 / squared length (0 for a dot)."""
    e = b - a
    len2 = (e * e).sum(-1)
    inv = torch.where(len2 > 0, 1.0 / len2.clamp_min(torch.finfo(a.dtype).tiny), torch.zeros_like(len2))
    return torch.cat([a, e, inv[..., None]], -1)


def distance2(cx: Tensor, cy: Tensor, params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Squared distance from points ``(cx, cy)`` to segments ``params`` (rows of `segment_params`).

    Returns ``(d2, t, qx, qy)``: ``t`` the unclamped projection parameter and ``q`` the vector from the
    nearest point of the segment to the point. Every caller uses this one formula, so the distances
    that decide which segment of a unit owns a pixel are bitwise the same wherever they are computed.
    """
    ax, ay, ex, ey, inv = params.unbind(-1)
    vx = cx - ax
    vy = cy - ay
    t = (vx * ex + vy * ey) * inv
    tc = t.clamp(0.0, 1.0)
    qx = vx - tc * ex
    qy = vy - tc * ey
    return qx * qx + qy * qy, t, qx, qy


def coverage(d2: Tensor, line_width: float, softness: float) -> Tensor:
    """Soft coverage from squared distance, clamped to ``[0, 1 - COVERAGE_EPS]``."""
    d = d2.clamp_min(0).sqrt()
    return ((line_width / 2 - d) / softness + 0.5).clamp(0.0, 1.0 - COVERAGE_EPS)


class _Entries:
    """The inked (pixel, segment) pairs of one forward pass, with what backward needs."""

    def __init__(self) -> None:
        self.pix: list[Tensor] = []
        self.seg: list[Tensor] = []
        self.dz: list[Tensor] = []  # d term / d z
        self.gx: list[Tensor] = []  # d term / d (nearest point), x
        self.gy: list[Tensor] = []
        self.tc: list[Tensor] = []  # clamped projection: share of that gradient going to the end point

    def cat(self, name: str) -> Tensor | None:
        parts = getattr(self, name)
        return torch.cat(parts) if parts else None


def _pieces(params: Tensor, max_len: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cut segments into ``n = ceil(length / max_len)`` pieces: ``(seg, t0, t_lo, t_hi)`` per piece.

    A piece spans ``t0 .. t0 + 1/n`` of its segment and owns pixels whose projection ``t`` satisfies
    ``t_lo <= t < t_hi`` (the first piece also owns ``t < 0``, the last ``t >= 1``).
    """
    e = params[:, 2:4]
    length = torch.linalg.vector_norm(e, dim=1)
    n = torch.ceil(length / max_len).clamp_min(1).long()
    seg = torch.repeat_interleave(torch.arange(len(n), device=n.device), n)
    first = torch.cumsum(n, 0) - n
    j = torch.arange(len(seg), device=n.device) - first[seg]
    nf = n[seg].to(params.dtype)
    jf = j.to(params.dtype)
    t0 = jf / nf
    t1 = (jf + 1) / nf
    inf = torch.full_like(t0, math.inf)
    t_lo = torch.where(j == 0, -inf, t0)
    t_hi = torch.where(j == n[seg] - 1, inf, t1)
    return seg, t0, t_lo, t_hi


class _LogTransmittance(torch.autograd.Function):
    """``S = sum over inked (pixel, segment) pairs of log1p(-z c)``, shape ``(B, H, W)``."""

    @staticmethod
    def forward(ctx, starts, ends, weight, segment_unit, height, width, line_width, softness, max_len):
        dev, dt = starts.device, starts.dtype
        bsz, m = segment_unit.shape
        want_xy = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        want_z = weight is not None and ctx.needs_input_grad[2]

        has_prev, has_next = neighbours(segment_unit)
        flat = torch.nonzero(segment_unit.reshape(-1) >= 0).squeeze(1)  # real segments, (S,)
        n_seg = len(flat)
        params_all = segment_params(starts.reshape(-1, 2), ends.reshape(-1, 2))
        params = params_all[flat]
        # Neighbour parameters with a far-away sentinel row for "no neighbour in this unit".
        far = torch.tensor([[1e30, 1e30, 0.0, 0.0, 0.0]], dtype=dt, device=dev)
        table = torch.cat([params, far])
        pos = torch.full((bsz * m,), n_seg, dtype=torch.long, device=dev)
        pos[flat] = torch.arange(n_seg, device=dev)
        sentinel = torch.full_like(flat, n_seg)
        prev_row = torch.where(has_prev.reshape(-1)[flat], pos[(flat - 1).clamp_min(0)], sentinel)
        next_row = torch.where(has_next.reshape(-1)[flat], pos[(flat + 1).clamp_max(bsz * m - 1)], sentinel)
        seg_b = flat // m
        if weight is not None:
            z_seg = weight.reshape(-1)[seg_b * weight.shape[1] + segment_unit.reshape(-1)[flat]]
        else:
            z_seg = torch.ones(n_seg, dtype=dt, device=dev)

        reach = line_width / 2 + softness / 2  # coverage is 0 beyond this distance
        k = math.floor(max_len + 2 * reach + 2 * _SLACK) + 1
        offs = torch.arange(k, device=dev, dtype=dt)
        piece_seg, t0, t_lo, t_hi = _pieces(params, max_len)
        out = torch.zeros(bsz * height * width, dtype=dt, device=dev)
        entries = _Entries()
        per_chunk = max(1, CHUNK_CANDIDATES // (k * k))
        half_w, inv_soft = line_width / 2, 1.0 / softness
        for lo in range(0, len(piece_seg), per_chunk):
            ps = piece_seg[lo : lo + per_chunk]
            p = params[ps]
            ax, ay, ex, ey, inv = p.unbind(1)
            pt0 = t0[lo : lo + per_chunk]
            step = 1.0 / torch.ceil(torch.linalg.vector_norm(p[:, 2:4], dim=1) / max_len).clamp_min(1)
            x0, y0 = ax + pt0 * ex, ay + pt0 * ey
            x1, y1 = x0 + step * ex, y0 + step * ey
            ox = torch.ceil(torch.minimum(x0, x1) - reach - 0.5 - _SLACK)
            oy = torch.ceil(torch.minimum(y0, y1) - reach - 0.5 - _SLACK)
            # Window pixel centres relative to the segment start; columns/rows off the canvas are
            # pushed far away so the distance test drops them.
            col = ox[:, None] + offs
            row = oy[:, None] + offs
            vx = torch.where((col >= 0) & (col < width), col + 0.5 - ax[:, None], 1e15)
            vy = torch.where((row >= 0) & (row < height), row + 0.5 - ay[:, None], 1e15)
            t = (vy * (ey * inv)[:, None])[:, :, None] + (vx * (ex * inv)[:, None])[:, None, :]
            tc = t.clamp(0.0, 1.0)
            qx = vx[:, None, :] - tc * ex[:, None, None]
            qy = vy[:, :, None] - tc * ey[:, None, None]
            keep = (qx * qx + qy * qy) < (reach + _SLACK) ** 2
            keep &= t >= (t_lo[lo : lo + per_chunk] - _SLACK)[:, None, None]
            keep &= t < (t_hi[lo : lo + per_chunk] + _SLACK)[:, None, None]
            idx = torch.nonzero(keep.reshape(-1)).squeeze(1)
            if len(idx) == 0:
                continue
            piece = idx // (k * k)
            px = ox[piece].long() + idx % k
            py = oy[piece].long() + (idx // k) % k
            seg = ps[piece]
            cx = px.to(dt) + 0.5
            cy = py.to(dt) + 0.5
            # Exact tests with the shared formula: the piece owns the pixel, the pixel is within
            # reach, and this segment is the nearest of its unit locally.
            d2, t, qx, qy = distance2(cx, cy, params[seg])
            pc = lo + piece
            ok = (t >= t_lo[pc]) & (t < t_hi[pc]) & (d2 < reach * reach)
            ok &= d2 <= distance2(cx, cy, table[prev_row[seg]])[0]
            ok &= d2 < distance2(cx, cy, table[next_row[seg]])[0]
            sel = torch.nonzero(ok).squeeze(1)
            seg, d2, t, qx, qy = seg[sel], d2[sel], t[sel], qx[sel], qy[sel]
            pix = (seg_b[seg] * height + py[sel]) * width + px[sel]
            d = d2.sqrt()
            raw = (half_w - d) * inv_soft + 0.5
            c = raw.clamp(0.0, 1.0 - COVERAGE_EPS)
            z = z_seg[seg]
            denom = 1.0 - z * c
            out.index_add_(0, pix, torch.log(denom))
            entries.pix.append(pix)
            entries.seg.append(seg)
            if want_z:
                entries.dz.append(-c / denom)
            if want_xy:
                # d term/d d = (z / denom) / softness on the ramp, 0 where the coverage is clamped;
                # d d/d (nearest point) = -q / d.
                slope = torch.where((raw > 0) & (raw < 1.0 - COVERAGE_EPS) & (d > 0), z / denom, 0.0)
                slope = slope * inv_soft / d.clamp_min(torch.finfo(dt).tiny)
                entries.gx.append(-slope * qx)
                entries.gy.append(-slope * qy)
                entries.tc.append(t.clamp(0.0, 1.0))

        ctx.shape = (bsz, m, height, width)
        ctx.n_units = None if weight is None else weight.shape[1]
        ctx.save_for_backward(
            flat,
            seg_b,
            segment_unit,
            *[
                torch.empty(0, dtype=dt, device=dev) if v is None else v
                for v in (entries.cat(n) for n in ("pix", "seg", "dz", "gx", "gy", "tc"))
            ],
        )
        return out.view(bsz, height, width)

    @staticmethod
    def backward(ctx, grad_out):
        flat, seg_b, segment_unit, pix, seg, dz, gx, gy, tc = ctx.saved_tensors
        bsz, m, _, _ = ctx.shape
        g = grad_out.reshape(-1)[pix] if len(pix) else grad_out.new_zeros(0)
        grad_a = grad_b = grad_z = None
        n_seg = len(flat)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            gvx, gvy = g * gx, g * gy
            per = torch.zeros(n_seg, 4, dtype=grad_out.dtype, device=grad_out.device)
            share_b = torch.stack([gvx * tc, gvy * tc], 1)
            share_a = torch.stack([gvx, gvy], 1) - share_b
            per.index_add_(0, seg, torch.cat([share_a, share_b], 1))
            full = torch.zeros(bsz * m, 4, dtype=grad_out.dtype, device=grad_out.device)
            full[flat] = per
            grad_a = full[:, :2].reshape(bsz, m, 2)
            grad_b = full[:, 2:].reshape(bsz, m, 2)
        if ctx.needs_input_grad[2] and ctx.n_units is not None:
            zi = seg_b * ctx.n_units + segment_unit.reshape(-1)[flat]
            grad_z = torch.zeros(bsz * ctx.n_units, dtype=grad_out.dtype, device=grad_out.device)
            grad_z.index_add_(0, zi[seg], g * dz)
            grad_z = grad_z.view(bsz, ctx.n_units)
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
    ``piece_length`` (supersampled pixels) tunes how segments are cut for the pixel windows.
    """
    check_segments(starts, ends, segment_unit, unit_weight)
    if line_width <= 0 or softness <= 0 or supersample < 1:
        raise StrokelensError("line_width and softness must be positive and supersample at least 1")
    h, w = _size2(size)
    s = int(supersample)
    wid = float(line_width) * s
    reach = wid / 2 + softness / 2
    max_len = float(piece_length) if piece_length else max(1.0, 2.0 * reach)
    if unit_weight is not None:
        unit_weight = unit_weight.to(starts.dtype)
    log_t = _LogTransmittance.apply(
        starts * s, ends * s, unit_weight, segment_unit.long(), h * s, w * s, wid, float(softness), max_len
    )
    ink = -torch.expm1(log_t)
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

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, line_width={self.line_width:g}, supersample={self.supersample}, "
            f"softness={self.softness:g}"
        )
