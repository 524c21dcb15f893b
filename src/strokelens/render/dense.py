"""The dense reference rasteriser: every pixel against every segment, plain autograd.

Same maths and API as `strokelens.render.rasteriser.rasterize` (see its module docstring), written
as the obvious ``(B, pixels, segments)`` tensor computation. It is the yardstick for the fast
rasteriser's values and hand-written gradients, and the baseline of the speed benchmark; its cost
and memory grow with canvas x segments.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from strokelens.render.pairs import (
    COVERAGE_EPS,
    _canvas,
    check_segments,
    distance2,
    neighbours,
    segment_params,
    start_bound,
)


def rasterize_dense(
    starts: Tensor,
    ends: Tensor,
    segment_unit: Tensor,
    unit_weight: Tensor | None = None,
    *,
    size: int | tuple[int, int],
    line_width: float,
    supersample: int = 1,
    softness: float = 1.0,
) -> Tensor:
    """Dense-tensor twin of `rasterize`: ink in [0, 1], shape ``(B, H, W)``."""
    check_segments(starts, ends, segment_unit, unit_weight)
    h, w, s, wid, softness, _ = _canvas(size, line_width, supersample, softness, None)
    hs, ws = h * s, w * s
    dev, dt = starts.device, starts.dtype
    segment_unit = segment_unit.long()
    valid = segment_unit >= 0
    params = segment_params(starts * s, ends * s)  # (B, M, 5)
    rows = torch.arange(hs, device=dev, dtype=dt) + 0.5
    cols = torch.arange(ws, device=dev, dtype=dt) + 0.5
    ys, xs = torch.meshgrid(rows, cols, indexing="ij")
    cx = xs.reshape(1, -1, 1)
    cy = ys.reshape(1, -1, 1)
    d2, t, _, _ = distance2(cx, cy, params[:, None, :, :])  # (B, P, M)
    has_prev, has_next = neighbours(segment_unit)
    prev_end = torch.cat([starts[:, :1], ends[:, :-1]], 1)
    lo = start_bound(has_prev & (prev_end == starts).all(-1))[:, None, :]  # (B, 1, M)
    inf = torch.full_like(d2[..., :1], math.inf)
    d2_prev = torch.where(has_prev[:, None, :], torch.cat([inf, d2[..., :-1]], -1), math.inf)
    d2_next = torch.where(has_next[:, None, :], torch.cat([d2[..., 1:], inf], -1), math.inf)
    t_next = torch.cat([t[..., 1:], inf], -1)
    lo_next = torch.cat([lo[..., 1:], torch.full_like(lo[..., :1], -math.inf)], -1)
    wins_next = (d2 <= d2_next) | (t_next < lo_next)
    reach = wid / 2 + softness / 2
    own = (t >= lo) & (d2 < d2_prev) & wins_next & (d2 < reach * reach) & valid[:, None, :]
    d = torch.where(own, d2, 1.0).sqrt()  # keep sqrt's gradient finite where it is masked out
    c = ((wid / 2 - d) / softness + 0.5).clamp(0.0, 1.0 - COVERAGE_EPS)
    c = torch.where(own, c, 0.0)
    if unit_weight is not None:
        z = torch.gather(unit_weight.to(dt), 1, segment_unit.clamp_min(0))  # (B, M)
        c = c * z[:, None, :]
    ink = -torch.expm1(torch.log1p(-c).sum(-1)).view(-1, hs, ws)
    if s > 1:
        ink = F.avg_pool2d(ink[:, None], s)[:, 0]
    return ink
