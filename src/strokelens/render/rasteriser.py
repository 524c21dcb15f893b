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

Cost grows with the ink, not with canvas x segments: every segment is cut into pieces no longer than a
fixed length, each piece enumerates the pixels of a fixed small window around it in one vectorised
step, a piece keeps only pixels whose projection falls on it (no pixel counted twice by one
segment) and that lie within reach of the line, and the log transmittances are scattered into the
flat ``(B*H*W)`` canvas with ``index_add``. Backward is hand-written: the forward pass keeps, for each
inked (pixel, segment) pair, the pixel index, the segment and three or four numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from strokelens.errors import StrokelensError

#: Coverage is clamped below 1 by this much so every ``log1p(-z c)`` stays finite.
COVERAGE_EPS = 1e-6
#: Candidate (piece, window pixel) pairs processed at once; bounds the forward's working memory.
CHUNK_CANDIDATES = 1 << 19
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


def start_bound(joined: Tensor) -> Tensor:
    """Smallest projection ``t`` at which a segment may own a pixel: 0 where it is ``joined``.

    ``joined``: the previous segment of the unit ends exactly where this one starts. A pixel that
    projects before the start (``t < 0``) is nearest to that shared point, so the previous segment is
    at least as near and this one leaves the pixel to it.
    """
    return torch.where(joined, 0.0, -math.inf)


def segment_params(a: Tensor, b: Tensor) -> Tensor:
    """``(..., 5)``: start x, start y, direction x, direction y, 1 / squared length (0 for a dot)."""
    e = b - a
    len2 = (e * e).sum(-1)
    inv = torch.where(len2 > 0, 1.0 / len2.clamp_min(torch.finfo(a.dtype).tiny), torch.zeros_like(len2))
    return torch.cat([a, e, inv[..., None]], -1)


def distance2(
    cx: Tensor, cy: Tensor, params: Tensor | Sequence[Tensor]
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Squared distance from points ``(cx, cy)`` to segments ``params`` (rows of `segment_params`).

    Returns ``(d2, t, qx, qy)``: ``t`` the unclamped projection parameter and ``q`` the vector from the
    nearest point of the segment to the point. Every caller uses this one formula, so the distances
    that decide which segment of a unit owns a pixel are bitwise the same wherever they are computed.
    """
    ax, ay, ex, ey, inv = params.unbind(-1) if isinstance(params, Tensor) else params
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


def _flatnonzero(mask: Tensor) -> Tensor:
    """Indices of the true entries of a 1-D bool tensor (NumPy's is several times faster on CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return torch.nonzero(mask).squeeze(1)


def _best_piece_length(own: Tensor, reach: float, tries: int = 16) -> float:
    """The piece length that makes the fewest window pixels for these segments.

    A window is ``k x k`` with ``k = floor(piece + 2 reach) + 1``; for each ``k`` the longest piece
    that fits is tried, and the total ``k^2 * sum(ceil(length / piece))`` compared.
    """
    k0 = math.floor(2 * reach + 2 * _SLACK) + 1
    ks = torch.arange(k0, k0 + tries, device=own.device, dtype=own.dtype)
    piece = ks - 1 - 2 * reach - 3 * _SLACK
    piece = torch.where(piece > 0.05, piece, math.inf)
    if len(own[0]) == 0:
        return max(1.0, 2 * reach)
    length = torch.sqrt(own[2] * own[2] + own[3] * own[3])
    n = torch.ceil(length[None, :] / piece[:, None]).clamp_min(1).sum(1)
    best = int(torch.argmin(torch.where(torch.isfinite(piece), n * ks * ks, math.inf)))
    return float(piece[best])


def _pieces(own: Tensor, max_len: float, start_lo: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cut segments into ``n = ceil(length / max_len)`` pieces: ``(seg, t0, t_lo, t_hi)`` per piece.

    A piece spans ``t0 .. t0 + 1/n`` of its segment and owns pixels whose projection ``t`` satisfies
    ``t_lo <= t < t_hi``; the first piece starts at ``start_lo`` (``-inf`` or 0, see `start_bound`),
    the last piece owns all ``t >= 1``.
    """
    ex, ey = own[2], own[3]
    n = torch.ceil(torch.sqrt(ex * ex + ey * ey) / max_len).clamp_min(1).long()
    seg = torch.repeat_interleave(torch.arange(len(n), device=n.device), n)
    first = torch.cumsum(n, 0) - n
    j = torch.arange(len(seg), device=n.device) - first[seg]
    nf = n[seg].to(own.dtype)
    jf = j.to(own.dtype)
    t0 = jf / nf
    t1 = (jf + 1) / nf
    inf = torch.full_like(t0, math.inf)
    t_lo = torch.where(j == 0, start_lo[seg], t0)
    t_hi = torch.where(j == n[seg] - 1, inf, t1)
    return seg, t0, t_lo, t_hi


def _floor_div(idx: Tensor, divisor: int) -> Tensor:
    """``idx // divisor`` for non-negative indices below 2**50 (a float multiply: faster on CPU)."""
    if idx.device.type != "cpu":
        return idx // divisor
    return ((idx.to(torch.float64) + 0.5) * (1.0 / divisor)).long()


class _Segments:
    """Per-segment columns of a padded batch, each a contiguous 1-D tensor for cheap gathers.

    ``flat``: index of each real segment in the flat ``(B*M)`` layout; ``seg_b``/``seg_u``: its item
    and unit; ``own``: its `segment_params` as 5 rows; ``start_lo``: see `start_bound`; ``nb_prev`` and
    ``nb_next``: the previous and the next segment of the same unit (adjacent on the segment axis),
    or a far-away point where there is none (``nb_next`` has the neighbour's ``start_lo`` as a 6th row).
    """

    __slots__ = ("flat", "nb_next", "nb_prev", "own", "seg_b", "seg_u", "start_lo")

    def __init__(self, starts: Tensor, ends: Tensor, segment_unit: Tensor) -> None:
        dev, dt = starts.device, starts.dtype
        m = segment_unit.shape[1]
        unit_flat = segment_unit.reshape(-1)
        flat = _flatnonzero(unit_flat >= 0)  # real segments, (S,)
        seg_u = unit_flat.index_select(0, flat)
        seg_b = flat // m
        seg_a = starts.reshape(-1, 2).index_select(0, flat)
        seg_e = ends.reshape(-1, 2).index_select(0, flat)
        own = segment_params(seg_a, seg_e).t().contiguous()
        same = (seg_u[1:] == seg_u[:-1]) & (flat[1:] == flat[:-1] + 1) & (seg_b[1:] == seg_b[:-1])
        no = torch.zeros(min(len(flat), 1), dtype=torch.bool, device=dev)
        far = torch.tensor([[1e30], [1e30], [0.0], [0.0], [0.0]], dtype=dt, device=dev)
        far_lo = torch.cat([far, far.new_full((1, 1), -math.inf)])
        has_prev = torch.cat([no, same])
        joined = has_prev & torch.cat([no, (seg_e[:-1] == seg_a[1:]).all(1)])
        self.start_lo = start_bound(joined)
        self.nb_prev = torch.where(has_prev, own.roll(1, 1), far)
        self.nb_next = torch.where(
            torch.cat([same, no]), torch.cat([own, self.start_lo[None]]).roll(-1, 1), far_lo
        )
        self.flat, self.seg_b, self.seg_u, self.own = flat, seg_b, seg_u, own


def _inked_pairs(
    segs: _Segments, height: int, width: int, line_width: float, softness: float, max_len: float | None
) -> Iterator[tuple[Tensor, ...]]:
    """Every inked (pixel, segment) pair, in chunks: ``(pix, seg, d2, t, qx, qy)`` per chunk.

    ``pix`` indexes the flat ``(B*H*W)`` canvas, ``seg`` the real segments of ``segs``; ``d2``, ``t``,
    ``q`` as in `distance2`. Pairs come in order of segment (so of item), and the set of pairs does not
    depend on how segments are cut into pieces.
    """
    dev, dt = segs.own.device, segs.own.dtype
    own, start_lo, nb_prev, nb_next, seg_b = segs.own, segs.start_lo, segs.nb_prev, segs.nb_next, segs.seg_b
    reach = line_width / 2 + softness / 2  # coverage is 0 beyond this distance
    if max_len is None:
        max_len = _best_piece_length(own, reach)
    k = math.floor(max_len + 2 * reach + 2 * _SLACK) + 1
    kk = k * k
    offs = torch.arange(k, device=dev, dtype=dt)
    # Row, column and flat-pixel offset of each window position.
    win_r = torch.arange(kk, device=dev) // k
    win_c = torch.arange(kk, device=dev) % k
    win_rf, win_cf, win_off = win_r.to(dt), win_c.to(dt), win_r * width + win_c
    piece_seg, t0, t_lo, t_hi = _pieces(own, max_len, start_lo)
    per_chunk = max(1, CHUNK_CANDIDATES // kk)
    for lo in range(0, len(piece_seg), per_chunk):
        ps = piece_seg[lo : lo + per_chunk]
        ax, ay, ex, ey, inv = (c.index_select(0, ps) for c in own)
        pt0 = t0[lo : lo + per_chunk]
        step = 1.0 / torch.ceil(torch.sqrt(ex * ex + ey * ey) / max_len).clamp_min(1)
        x0, y0 = ax + pt0 * ex, ay + pt0 * ey
        x1, y1 = x0 + step * ex, y0 + step * ey
        ox = torch.ceil(torch.minimum(x0, x1) - reach - 0.5 - _SLACK)
        oy = torch.ceil(torch.minimum(y0, y1) - reach - 0.5 - _SLACK)
        # The shared distance formula on a K x K window per piece, factored so only the last few
        # steps run on K*K values; columns/rows off the canvas are pushed far away.
        colx = ox[:, None] + offs
        rowy = oy[:, None] + offs
        vx = torch.where((colx >= 0) & (colx < width), (colx + 0.5) - ax[:, None], 1e15)
        vy = torch.where((rowy >= 0) & (rowy < height), (rowy + 0.5) - ay[:, None], 1e15)
        t = ((vx * ex[:, None])[:, None, :] + (vy * ey[:, None])[:, :, None]) * inv[:, None, None]
        tc = t.clamp(0.0, 1.0)
        qx = vx[:, None, :] - tc * ex[:, None, None]
        qy = vy[:, :, None] - tc * ey[:, None, None]
        d2 = qx * qx + qy * qy
        keep = d2 < reach * reach
        if bool((t_lo[lo : lo + per_chunk] > -math.inf).any()):  # some segment has several pieces
            keep &= t >= t_lo[lo : lo + per_chunk, None, None]
            keep &= t < t_hi[lo : lo + per_chunk, None, None]
        idx = _flatnonzero(keep.reshape(-1))
        if len(idx) == 0:
            continue
        t, d2 = t.reshape(-1).index_select(0, idx), d2.reshape(-1).index_select(0, idx)
        qx, qy = qx.reshape(-1).index_select(0, idx), qy.reshape(-1).index_select(0, idx)
        piece = _floor_div(idx, kk)
        rem = idx - piece * kk
        seg = ps.index_select(0, piece)
        cx = ox.index_select(0, piece) + win_cf.index_select(0, rem) + 0.5
        cy = oy.index_select(0, piece) + win_rf.index_select(0, rem) + 0.5
        # This segment is locally the nearest of its unit.
        ok = d2 < distance2(cx, cy, [v.index_select(0, seg) for v in nb_prev])[0]
        nxt = [v.index_select(0, seg) for v in nb_next]
        d2_nb, t_nb, _, _ = distance2(cx, cy, nxt[:5])
        ok &= (d2 <= d2_nb) | (t_nb < nxt[5])
        sel = _flatnonzero(ok)
        seg, d2, t, qx, qy = (v.index_select(0, sel) for v in (seg, d2, t, qx, qy))
        piece, rem = piece.index_select(0, sel), rem.index_select(0, sel)
        base = (seg_b.index_select(0, seg) * height + oy.index_select(0, piece).long()) * width
        pix = base + ox.index_select(0, piece).long() + win_off.index_select(0, rem)
        yield pix, seg, d2, t, qx, qy


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
        half_w, inv_soft = line_width / 2, 1.0 / softness
        for pix, seg, d2, t, qx, qy in _inked_pairs(segs, height, width, line_width, softness, max_len):
            d = d2.sqrt()
            raw = (half_w - d) * inv_soft + 0.5
            c = raw.clamp(0.0, 1.0 - COVERAGE_EPS)
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
    if line_width <= 0 or softness <= 0 or supersample < 1:
        raise StrokelensError("line_width and softness must be positive and supersample at least 1")
    h, w = _size2(size)
    s = int(supersample)
    wid = float(line_width) * s
    max_len = float(piece_length) if piece_length else None
    if unit_weight is not None:
        unit_weight = unit_weight.to(starts.dtype)
    ink = _Ink.apply(
        starts * s, ends * s, unit_weight, segment_unit.long(), h * s, w * s, wid, float(softness), max_len
    )
    if s > 1:
        ink = F.avg_pool2d(ink[:, None], s)[:, 0]
    return ink


#: Pixel-segment pairs composited at once by `InkCoverage.composite`; bounds its working memory.
CHUNK_PAIRS = 1 << 21


@dataclass(frozen=True, eq=False)
class InkCoverage:
    """The presence-independent half of `rasterize`: the coverage of every inked (pixel, segment) pair.

    With fixed points, which pixels a segment inks and how much (``c``, after the pairwise-winner
    ownership within each unit) do not depend on the unit weights; only the composition
    ``ink = 1 - prod (1 - z_u c)`` does. Build one with `ink_coverage` and call `composite` for any
    number of weight rows: it equals `rasterize` on the same segments (to float rounding) and is
    differentiable in the weights, not in the points.

    Fields: ``pix`` ``(P,)`` long, the pair's pixel in its item's ``(H*s) x (W*s)`` canvas; ``unit``
    ``(P,)`` long; ``value`` ``(P,)`` the coverage ``c``; ``offsets`` ``(B + 1,)`` long, item ``i``'s
    pairs are ``offsets[i]:offsets[i + 1]``; ``size`` ``(H, W)`` output pixels; ``supersample`` ``s``;
    ``n_units``: the largest unit id + 1 (weights need at least that many columns).
    """

    pix: Tensor
    unit: Tensor
    value: Tensor
    offsets: Tensor
    size: tuple[int, int]
    supersample: int
    n_units: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def device(self) -> torch.device:
        return self.value.device

    def pairs_per_item(self) -> Tensor:
        """``(B,)`` long: inked pixel-segment pairs of each item."""
        return self.offsets[1:] - self.offsets[:-1]

    def composite(self, unit_weight: Tensor, rows: Tensor | None = None) -> Tensor:
        """Ink ``(R, H, W)`` of items ``rows`` ``(R,)`` (None: all, in order) with unit opacities
        ``unit_weight`` ``(R, U)``, one row of weights per output row; differentiable in the weights."""
        b = len(self)
        if rows is None:
            rows = torch.arange(b, device=self.device)
        rows = rows.to(self.device, torch.long)
        if rows.ndim != 1 or unit_weight.ndim != 2 or unit_weight.shape[0] != len(rows):
            raise StrokelensError(
                f"composite needs rows (R,) and unit_weight (R, U); got {tuple(rows.shape)} and "
                f"{tuple(unit_weight.shape)}"
            )
        if unit_weight.shape[1] < self.n_units:
            raise StrokelensError(
                f"the coverage holds unit {self.n_units - 1} but unit_weight has only "
                f"{unit_weight.shape[1]} units"
            )
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= b):
            raise StrokelensError(f"rows must index the coverage's {b} items")
        s = self.supersample
        hs, ws = self.size[0] * s, self.size[1] * s
        weight = unit_weight.to(self.value.dtype)
        ink = _Composite.apply(weight, rows, self.pix, self.unit, self.value, self.offsets, hs * ws)
        ink = ink.view(len(rows), hs, ws)
        if s > 1:
            ink = F.avg_pool2d(ink[:, None], s)[:, 0]
        return ink


class _Composite(torch.autograd.Function):
    """`InkCoverage.composite` before supersampling: ``(R, H*W)`` flat, hand-written backward in z."""

    @staticmethod
    def forward(ctx, weight, rows, pix, unit, value, offsets, n_pix):
        dev, dt = value.device, value.dtype
        n_rows, n_units = weight.shape
        want_z = ctx.needs_input_grad[0]
        counts = (offsets[1:] - offsets[:-1]).index_select(0, rows)
        log_t = torch.zeros(n_rows * n_pix, dtype=dt, device=dev)
        saved: list[tuple[Tensor, Tensor, Tensor]] = []
        # Rows in groups of at most CHUNK_PAIRS pairs (a row with more is a group of its own).
        cum = torch.cumsum(counts, 0).tolist()
        bounds, done = [0], 0
        for r, c in enumerate(cum):
            if c - done > CHUNK_PAIRS and r > bounds[-1]:
                bounds.append(r)
                done = cum[r - 1]
        bounds.append(n_rows)
        z_flat = weight.reshape(-1)
        for lo, hi in itertools.pairwise(bounds):
            if hi <= lo:
                continue
            cnt = counts[lo:hi]
            r_of = torch.repeat_interleave(torch.arange(lo, hi, device=dev), cnt)
            if len(r_of) == 0:
                continue
            first = torch.cumsum(cnt, 0) - cnt
            shift = torch.repeat_interleave(offsets.index_select(0, rows[lo:hi]) - first, cnt)
            pair = torch.arange(len(r_of), device=dev) + shift
            pix_r = r_of * n_pix + pix.index_select(0, pair)
            z_index = r_of * n_units + unit.index_select(0, pair)
            c = value.index_select(0, pair)
            denom = 1.0 - z_flat.index_select(0, z_index) * c
            log_t.index_add_(0, pix_r, torch.log(denom))
            if want_z:
                saved.append((pix_r, z_index, c / denom))  # minus d term / d z
        ink = log_t.expm1_().neg_()
        ctx.chunks = saved
        ctx.n_weights = n_rows * n_units
        ctx.weight_shape = (n_rows, n_units)
        ctx.save_for_backward(ink)
        return ink

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ink):
        (ink,) = ctx.saved_tensors
        g_flat, ink_flat = grad_ink.reshape(-1), ink.reshape(-1)
        gz = torch.zeros(ctx.n_weights, dtype=grad_ink.dtype, device=grad_ink.device)
        for pix_r, z_index, dz in ctx.chunks:
            # d loss / d log-transmittance = grad * (ink - 1), as in `_Ink.backward`.
            g = g_flat.index_select(0, pix_r) * (ink_flat.index_select(0, pix_r) - 1.0)
            gz.index_add_(0, z_index, g * dz)
        return gz.neg_().view(ctx.weight_shape), None, None, None, None, None, None


def ink_coverage(
    starts: Tensor,
    ends: Tensor,
    segment_unit: Tensor,
    *,
    size: int | tuple[int, int],
    line_width: float,
    supersample: int = 1,
    softness: float = 1.0,
    piece_length: float | None = None,
) -> InkCoverage:
    """The coverage of every inked pixel-segment pair, to composite with any unit weights later.

    Arguments as in `rasterize` (the points are not differentiated: the result is detached).
    ``rasterize(starts, ends, segment_unit, w, ...)[rows]`` equals
    ``ink_coverage(starts, ends, segment_unit, ...).composite(w[rows], rows)``.
    """
    check_segments(starts, ends, segment_unit, None)
    if line_width <= 0 or softness <= 0 or supersample < 1:
        raise StrokelensError("line_width and softness must be positive and supersample at least 1")
    h, w = _size2(size)
    s = int(supersample)
    hs, ws = h * s, w * s
    wid, soft = float(line_width) * s, float(softness)
    max_len = float(piece_length) if piece_length else None
    unit_all = segment_unit.long()
    with torch.no_grad():
        segs = _Segments(starts.detach() * s, ends.detach() * s, unit_all)
        pixes, values, segments = [], [], []
        for pix, seg, d2, _t, _qx, _qy in _inked_pairs(segs, hs, ws, wid, soft, max_len):
            # The same coverage formula as `_Ink.forward`, so the composition matches it.
            raw = (wid / 2 - d2.sqrt()) * (1.0 / soft) + 0.5
            values.append(raw.clamp(0.0, 1.0 - COVERAGE_EPS))
            pixes.append(pix)
            segments.append(seg)
        dev = starts.device
        if pixes:
            pix, seg, value = torch.cat(pixes), torch.cat(segments), torch.cat(values)
        else:
            pix = seg = torch.zeros(0, dtype=torch.long, device=dev)
            value = torch.zeros(0, dtype=starts.dtype, device=dev)
        item = segs.seg_b.index_select(0, seg)
        item, order = torch.sort(item, stable=True)  # pairs already come by item: keep their order
        pix, seg, value = pix[order], seg[order], value[order]
        b = starts.shape[0]
        offsets = torch.zeros(b + 1, dtype=torch.long, device=dev)
        offsets[1:] = torch.cumsum(torch.bincount(item, minlength=b), 0)
        n_units = int(unit_all.max()) + 1 if unit_all.numel() else 0
    return InkCoverage(
        pix=pix - item * (hs * ws),
        unit=segs.seg_u.index_select(0, seg),
        value=value,
        offsets=offsets,
        size=(h, w),
        supersample=s,
        n_units=max(n_units, 0),
    )


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
