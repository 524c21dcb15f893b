"""Geometry of padded stroke tensors for the stroke transformer: per-stroke grids and resampling.

Points come padded as ``(B, N, 2)`` with ``stroke_ids`` ``(B, N)`` long (``-1`` for padding; each
stroke a contiguous run). These helpers index points within their strokes, scatter them into a
``(B, S, L, 2)`` grid, move a sketch into QuickDraw's normalised frame and resample every stroke by
arc length; `strokelens.models.stroke_transformer` builds its input with them.
"""

from __future__ import annotations

import torch


def point_positions(stroke_ids: torch.Tensor) -> torch.Tensor:
    """Index of every point within its stroke, ``(B, N)`` long (strokes must be contiguous runs)."""
    n = stroke_ids.shape[1]
    ar = torch.arange(n, device=stroke_ids.device).expand_as(stroke_ids)
    prev = torch.cat([torch.full_like(stroke_ids[:, :1], -2), stroke_ids[:, :-1]], dim=1)
    start = torch.where(stroke_ids != prev, ar, torch.zeros_like(ar))
    return ar - start.cummax(dim=1).values


def stroke_grid(
    points: torch.Tensor, stroke_ids: torch.Tensor, n_strokes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scatter padded points into a per-stroke grid.

    Returns ``grid`` ``(B, S, L, 2)`` (zero where empty; differentiable in ``points``) and
    ``lengths`` ``(B, S)`` long. ``S`` is ``n_strokes`` or the largest stroke id + 1.
    """
    valid = stroke_ids >= 0
    if n_strokes is None:
        n_strokes = int(stroke_ids.max()) + 1 if bool(valid.any()) else 1
    pos = point_positions(stroke_ids)
    b_idx = torch.arange(points.shape[0], device=points.device)[:, None].expand_as(stroke_ids)
    bi, si, pi = b_idx[valid], stroke_ids[valid], pos[valid]
    width = int(pi.max()) + 1 if pi.numel() else 1
    grid = points.new_zeros(points.shape[0], n_strokes, width, 2)
    grid = grid.index_put((bi, si, pi), points[valid])
    lengths = torch.zeros(points.shape[0], n_strokes, dtype=torch.long, device=points.device)
    lengths = lengths.index_put((bi, si), torch.ones_like(si), accumulate=True)
    return grid, lengths


def normalise_points(points: torch.Tensor, point_mask: torch.Tensor) -> torch.Tensor:
    """Top-left corner to 0 and the longer side to 0..1 per sketch (QuickDraw's frame / 255)."""
    big = torch.finfo(points.dtype).max
    m = point_mask[..., None]
    lo = torch.where(m, points, big).amin(dim=1, keepdim=True)
    hi = torch.where(m, points, -big).amax(dim=1, keepdim=True)
    extent = (hi - lo).amax(dim=2, keepdim=True)
    scale = torch.where(extent > 0, 1.0 / extent.clamp_min(1e-12), torch.ones_like(extent))
    return torch.where(m, (points - lo) * scale, torch.zeros_like(points))


def resample_strokes(
    points: torch.Tensor, stroke_ids: torch.Tensor, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample every stroke to ``count`` points evenly spaced by arc length (endpoints kept).

    Returns padded ``(points (B, S*count, 2), stroke_ids (B, S*count))``, stroke ``k`` occupying
    positions ``k*count .. (k+1)*count - 1`` (id ``-1`` for stroke slots a sketch does not have).
    """
    grid, lengths = stroke_grid(points, stroke_ids)
    b, s, width, _ = grid.shape
    step = (grid[:, :, 1:] - grid[:, :, :-1]).norm(dim=-1)
    ar = torch.arange(width, device=points.device)
    step = torch.where(ar[1:] < lengths[..., None], step, torch.zeros_like(step))
    cum = torch.cat([step.new_zeros(b, s, 1), step.cumsum(dim=-1)], dim=-1)  # (B, S, L), flat past the end
    total = cum[..., -1:]
    frac = torch.linspace(0.0, 1.0, count, device=points.device, dtype=points.dtype)
    query = frac * total  # (B, S, count)
    last = (lengths - 1).clamp_min(0)[..., None]
    idx = torch.searchsorted(cum.reshape(b * s, width).contiguous(), query.reshape(b * s, count), right=True)
    idx = torch.minimum((idx.reshape(b, s, count) - 1).clamp_min(0), last)
    nxt = torch.minimum(idx + 1, last)
    c0, c1 = cum.gather(2, idx), cum.gather(2, nxt)
    t = torch.where(c1 > c0, (query - c0) / (c1 - c0).clamp_min(1e-12), torch.zeros_like(query)).clamp(0, 1)
    p0 = grid.gather(2, idx[..., None].expand(-1, -1, -1, 2))
    p1 = grid.gather(2, nxt[..., None].expand(-1, -1, -1, 2))
    out = p0 + (p1 - p0) * t[..., None]
    present = lengths > 0
    sid = torch.arange(s, device=points.device).expand(b, s)
    sid = torch.where(present, sid, torch.full_like(sid, -1))[..., None].expand(-1, -1, count)
    out = torch.where(present[..., None, None], out, torch.zeros_like(out))
    return out.reshape(b, s * count, 2), sid.reshape(b, s * count)
