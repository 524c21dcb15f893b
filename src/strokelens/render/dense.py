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

from strokelens.errors import StrokelensError
from strokelens.render.rasteriser import (
    COVERAGE_EPS,
    _size2,
    check_segments,
    distance2,
    neighbours,
    segment_params,
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
    if line_width <= 0 or softness <= 0 or supersample < 1:
        raise StrokelensError("line_width and softness must be positive and supersample at least 1")
    h, w = _size2(size)
    s = int(supersample)
    hs, ws = h * s, w * s
    wid = float(line_width) * s
    dev, dt = starts.device, starts.dtype
    segment_unit = segment_unit.long()
    valid = segment_unit >= 0
    params = segment_params(starts * s, ends * s)  # (B, M, 5)
    rows = torch.arange(hs, device=dev, dtype=dt) + 0.5
    cols = torch.arange(ws, device=dev, dtype=dt) + 0.5
    ys, xs = torch.meshgrid(rows, cols, indexing="ij")
    cx = xs.reshape(1, -1, 1)
    cy = ys.reshape(1, -1, 1)
    d2, _, _, _ = distance2(cx, cy, params[:, None, :, :])  # (B, P, M)
    has_prev, has_next = neighbours(segment_unit)
    inf = torch.full_like(d2[..., :1], math.inf)
    d2_prev = torch.where(has_prev[:, None, :], torch.cat([inf, d2[..., :-1]], -1), math.inf)
    d2_next = torch.where(has_next[:, None, :], torch.cat([d2[..., 1:], inf], -1), math.inf)
    own = (d2 <= d2_prev) & (d2 < d2_next) & valid[:, None, :]
    reach = wid / 2 + softness / 2
    own &= d2 < reach * reach
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
