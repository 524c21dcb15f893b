"""Unit tokens: a fixed-size description of every stroke or piece, the input of a sketch explainer.

Each unit (a stroke, or a piece of one) is resampled to ``points_per_unit`` points by arc length in
the sketch's normalised frame (top-left at 0, longer side 0..1), and described by its start, end and
centroid, its shape (offsets from the start), its arc length and extent, and where it comes in the
drawing. Everything is computed for the whole padded batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from strokelens.models.stroke_geometry import normalise_points, resample_strokes
from strokelens.units.strokes import SketchUnits

#: Offsets in the normalised frame are small; they are scaled by this (as the stroke transformer does).
OFFSET_SCALE = 5.0


@dataclass(frozen=True, eq=False)
class UnitTokens:
    """``features`` ``(B, K, F)`` float and ``exists`` ``(B, K)`` bool for a batch's units."""

    features: torch.Tensor
    exists: torch.Tensor


def n_token_features(points_per_unit: int) -> int:
    """Length ``F`` of one token: 2 x points (shape) + start, end, centroid, extent (8) + length (2)
    + position (3)."""
    return 2 * points_per_unit + 13


def unit_tokens(units: SketchUnits, points_per_unit: int = 16) -> UnitTokens:
    """Tokens for every unit of ``units`` (strokes or pieces), ``K = units.max_units`` slots each."""
    batch = units.batch
    k = units.max_units
    pts = normalise_points(batch.points.to(torch.float32), batch.point_mask)
    ids = torch.where(batch.point_mask, units.segment_unit, torch.full_like(units.segment_unit, -1))
    res, sid = resample_strokes(pts, ids, points_per_unit)
    b = pts.shape[0]
    s = res.shape[1] // points_per_unit
    grid = res.view(b, s, points_per_unit, 2)
    exists = sid.view(b, s, points_per_unit)[..., 0] >= 0
    if s < k:  # trailing units with no points of their own (cannot happen for strokes)
        grid = torch.cat([grid, grid.new_zeros(b, k - s, points_per_unit, 2)], dim=1)
        exists = torch.cat([exists, exists.new_zeros(b, k - s)], dim=1)
    grid, exists = grid[:, :k], exists[:, :k]
    start, end = grid[:, :, 0], grid[:, :, -1]
    shape = (grid - start[:, :, None]) * OFFSET_SCALE
    centroid = grid.mean(dim=2)
    extent = grid.amax(dim=2) - grid.amin(dim=2)
    length = (grid[:, :, 1:] - grid[:, :, :-1]).norm(dim=-1).sum(dim=-1, keepdim=True)
    n = units.n_units.to(pts.device, torch.float32)[:, None]
    index = torch.arange(k, device=pts.device, dtype=torch.float32)[None].expand(b, k)
    position = torch.stack([index / (n - 1).clamp_min(1), index.add(1).log(), n.expand(b, k).log()], dim=-1)
    features = torch.cat(
        [
            shape.flatten(2),
            start,
            end,
            centroid,
            extent,
            length,
            length.add(1e-3).log(),
            position,
        ],
        dim=-1,
    )
    features = torch.where(exists[..., None], features, torch.zeros_like(features))
    return UnitTokens(features, exists)
