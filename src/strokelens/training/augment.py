"""Random changes to the stroke transformer's training sketches, drawn on padded tensors (see
`AugmentConfig`): rotation, anisotropic scale, shear, point jitter, stroke shifts, stroke reversal and
local reordering, RDP-simplified copies, stroke dropout through the model's soft presence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.models.stroke_transformer import normalise_points
from strokelens.sketch import Sketch


@dataclass(frozen=True)
class AugmentConfig:
    """Random changes to training sketches, all drawn per sketch or per stroke on padded tensors.

    Lengths are in the normalised frame (the longer side spans 0..1). The defaults are the ``varied``
    set of ``strokelens train stroke-transformer --augment``; `basic` is the shipped model's.
    """

    #: Rotation, uniform in +-rotate_deg degrees.
    rotate_deg: float = 15.0
    #: Scale of x and y, each uniform in this range (anisotropic).
    scale: tuple[float, float] = (0.75, 1.25)
    #: Shear factor, uniform in +-shear.
    shear: float = 0.2
    #: Standard deviation of the noise added to every resampled point.
    jitter: float = 0.006
    #: Standard deviation of a shift of each whole stroke.
    stroke_shift: float = 0.02
    #: Probability that a stroke is drawn backwards.
    reverse: float = 0.1
    #: Standard deviation of the noise added to stroke indices before sorting them (0: keep the order;
    #: 0.5 mostly swaps neighbours).
    order_noise: float = 0.5
    #: Probability that a stroke is dropped (presence 0; at least one stays).
    stroke_drop: float = 0.1
    #: Probability that a sketch is replaced by its RDP-simplified copy (QuickDraw's recipe with a
    #: random epsilon, made once at preparation).
    simplify: float = 0.5
    #: RDP epsilon of the simplified copies, uniform in this range, in QuickDraw's 0-255 frame.
    simplify_epsilon: tuple[float, float] = (1.0, 4.0)

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation (points are still put back in the normalised frame)."""
        return cls(
            rotate_deg=0.0,
            scale=(1.0, 1.0),
            shear=0.0,
            jitter=0.0,
            stroke_shift=0.0,
            reverse=0.0,
            order_noise=0.0,
            stroke_drop=0.0,
            simplify=0.0,
        )

    @classmethod
    def basic(cls) -> AugmentConfig:
        """Rotation +-12 degrees, scale 0.8-1.2 and stroke dropout 0.1 only."""
        return replace(cls.none(), rotate_deg=12.0, scale=(0.8, 1.2), stroke_drop=0.1)

    def to_dict(self) -> dict:
        return asdict(self)


def augment(
    points: torch.Tensor,
    stroke_ids: torch.Tensor,
    generator: torch.Generator,
    config: AugmentConfig | None = None,
    points_per_stroke: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment prepared points (see `AugmentConfig`), back in the normalised frame.

    ``points`` ``(B, S*P, 2)`` and ``stroke_ids`` as `prepare_sketches` makes them (stroke ``k`` of a
    sketch in slot ``k``, ``P = points_per_stroke`` points each); reversal, reordering, shifts and
    jitter need ``points_per_stroke``. Returns the new points and a presence ``(B, S)`` with dropped
    strokes at 0 (at least one kept). The stroke ids stay valid: reordering moves whole slots.
    """
    cfg = config or AugmentConfig()
    b = points.shape[0]
    mask = stroke_ids >= 0
    pts = points
    n_slots = int(stroke_ids.max()) + 1
    if points_per_stroke is not None and (cfg.reverse or cfg.order_noise or cfg.stroke_shift or cfg.jitter):
        p = points_per_stroke
        if points.shape[1] % p:
            raise StrokelensError(f"{points.shape[1]} points are not slots of {p} points")
        grid = pts.reshape(b, -1, p, 2)
        s = grid.shape[1]
        exists = mask.reshape(b, s, p)[..., 0]
        if cfg.reverse:
            flip = (torch.rand(b, s, generator=generator) < cfg.reverse)[..., None, None]
            grid = torch.where(flip, grid.flip(2), grid)
        if cfg.order_noise:
            keys = torch.arange(s, dtype=pts.dtype) + cfg.order_noise * torch.randn(b, s, generator=generator)
            keys = torch.where(exists, keys, torch.full_like(keys, float("inf")))
            perm = keys.argsort(dim=1, stable=True)  # present slots first, empty ones stay last
            grid = grid.gather(1, perm[..., None, None].expand(-1, -1, p, 2))
        noise = torch.zeros_like(grid)
        if cfg.stroke_shift:
            noise = noise + cfg.stroke_shift * torch.randn(b, s, 1, 2, generator=generator)
        if cfg.jitter:
            noise = noise + cfg.jitter * torch.randn(b, s, p, 2, generator=generator)
        pts = (grid + noise).reshape(b, -1, 2)
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(cfg.rotate_deg)
    lo, hi = cfg.scale
    sxy = lo + torch.rand(b, 2, generator=generator) * (hi - lo)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    mat = rot * sxy[:, None, :]
    if cfg.shear:
        k = (torch.rand(b, generator=generator) * 2 - 1) * cfg.shear
        shear = torch.eye(2).repeat(b, 1, 1)
        shear[:, 0, 1] = k
        mat = mat @ shear
    pts = normalise_points((pts - 0.5) @ mat.transpose(1, 2), mask)
    exists = torch.zeros(b, n_slots, dtype=torch.bool)
    exists[torch.arange(b)[:, None].expand_as(stroke_ids)[mask], stroke_ids[mask]] = True
    drop = (torch.rand(b, n_slots, generator=generator) < cfg.stroke_drop) & exists
    all_gone = (exists & ~drop).sum(1) == 0
    drop[all_gone] = False
    return pts, (~drop).to(points.dtype)


def simplified_copies(sketches: Sequence[Sketch], epsilon: tuple[float, float], seed: int) -> list[Sketch]:
    """Each sketch through QuickDraw's simplification (0-255 frame, 1-unit resampling, RDP) with a random
    epsilon uniform in ``epsilon``; the stroke count is unchanged (RDP keeps every stroke's ends)."""
    eps = np.random.default_rng(seed).uniform(epsilon[0], epsilon[1], len(sketches))
    return [s.normalized().resampled(1.0).simplified(float(e)) for s, e in zip(sketches, eps, strict=True)]
