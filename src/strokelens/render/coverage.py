"""The presence-independent half of `rasterize`: pixel-segment coverage, composited with any weights.

`ink_coverage` enumerates the inked (pixel, segment) pairs once (see `strokelens.render.pairs`) and
keeps their coverage; `InkCoverage.composite` then draws ``ink = 1 - prod (1 - z_u c)`` for any rows
of unit weights, with a hand-written backward in the weights. It equals `rasterize` on the same
segments (to float rounding).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from strokelens.errors import StrokelensError
from strokelens.render.pairs import _canvas, _coverage_ramp, _inked_pairs, _Segments, check_segments

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

    def unit_inks(self, n_units: int | None = None) -> tuple[Tensor, Tensor]:
        """Every unit's own ink (drawn alone) and exclusive ink (what leaves the whole drawing without
        it), ``(B, U, H, W)`` each with ``U = n_units`` (default the coverage's), every unit present.

        One pass over the pairs into per-unit log-transmittances ``L_u``: own ink is ``1 - exp(L_u)``,
        exclusive ink ``exp(L - L_u) - exp(L)`` with ``L`` their sum. Compositing ``U`` rows alone and
        ``U`` rows without would pass every pair ``2U`` times; these are the same numbers, but for
        coverage values of 1 (a log floor of ``log(1e-6)`` keeps ``L - L_u`` finite)."""
        u = self.n_units if n_units is None else n_units
        if u < self.n_units:
            raise StrokelensError(f"the coverage holds unit {self.n_units - 1}; n_units={u} is too few")
        b, s = len(self), self.supersample
        hs, ws = self.size[0] * s, self.size[1] * s
        n_pix = hs * ws
        item = torch.repeat_interleave(torch.arange(b, device=self.device), self.pairs_per_item())
        logs = torch.zeros(b * u * n_pix, dtype=self.value.dtype, device=self.device)
        floor = torch.log1p(-self.value.clamp(max=1 - 1e-6))
        logs.index_add_(0, (item * u + self.unit) * n_pix + self.pix, floor)
        logs = logs.view(b, u, hs, ws)
        total = logs.sum(1, keepdim=True)
        own = -torch.expm1(logs)
        exclusive = torch.exp(total - logs) - torch.exp(total)
        if s > 1:
            own, exclusive = F.avg_pool2d(own, s), F.avg_pool2d(exclusive, s)
        return own, exclusive


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
    h, w, s, wid, soft, max_len = _canvas(size, line_width, supersample, softness, piece_length)
    hs, ws = h * s, w * s
    unit_all = segment_unit.long()
    with torch.no_grad():
        segs = _Segments(starts.detach() * s, ends.detach() * s, unit_all)
        pixes, values, segments = [], [], []
        for pix, seg, d2, _t, _qx, _qy in _inked_pairs(segs, hs, ws, wid, soft, max_len):
            # The same coverage formula as `_Ink.forward`, so the composition matches it.
            values.append(_coverage_ramp(d2.sqrt(), wid, soft)[1])
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
