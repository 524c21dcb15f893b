"""Which pixels each segment inks: the (pixel, segment) pairs shared by `rasterize` and `ink_coverage`.

The maths (pixel centres, distance, soft coverage, the pairwise-winner ownership within a unit) is
in the `strokelens.render.rasteriser` module docstring; this module holds the geometry helpers that
every rasteriser uses (`check_segments`, `segment_params`, `distance2`, ...) and the sparse
enumeration `_inked_pairs`.

Cost grows with the ink, not with canvas x segments: every segment is cut into pieces no longer than a
fixed length, each piece enumerates the pixels of a fixed small window around it in one vectorised
step, a piece keeps only pixels whose projection falls on it (no pixel counted twice by one
segment), that lie within reach of the line and that its segment wins within its unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

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


def _canvas(
    size: int | tuple[int, int],
    line_width: float,
    supersample: int,
    softness: float,
    piece_length: float | None,
) -> tuple[int, int, int, float, float, float | None]:
    """``(H, W, s, line width, softness, piece length)`` of a drawing, in supersampled pixels where
    they are lengths; raise `StrokelensError` on settings that cannot draw."""
    if line_width <= 0 or softness <= 0 or supersample < 1:
        raise StrokelensError("line_width and softness must be positive and supersample at least 1")
    h, w = _size2(size)
    s = int(supersample)
    return h, w, s, float(line_width) * s, float(softness), float(piece_length) if piece_length else None


def _coverage_ramp(d: Tensor, line_width: float, softness: float) -> tuple[Tensor, Tensor]:
    """``(raw, c)`` at distance ``d``: the ramp ``(w/2 - d) / softness + 1/2`` and the coverage, clamped.

    `_Ink` and `ink_coverage` both use this one formula, so their coverages are bitwise the same.
    """
    raw = (line_width / 2 - d) * (1.0 / softness) + 0.5
    return raw, raw.clamp(0.0, 1.0 - COVERAGE_EPS)


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
