"""Disturbances of what a stroke carries, after SketchXAI: its shape, its order, its location.

Each function takes a list of sketches and returns new ones; only its own component changes.

- `shuffle_order`: the strokes in a random order (seeded). The set of strokes, every point and the
  bounding box are unchanged; per-point ``times`` are dropped (they would still tell the order).
- `straighten_shapes`: every stroke becomes the straight segment across its own bounding box (two
  points), from the box corner nearest the stroke's first point to the opposite corner. Why the box
  diagonal rather than first-to-last point: every stroke keeps its extent (width and height) and
  the place it covers, so the drawing's bounding box, and with it the frame every model normalises
  and renders in, is unchanged; a closed stroke (a circle, a face) would collapse to a dot from its
  first to its last point. Starting at the corner nearest the first point keeps the stroke's location
  (its first point, for the stroke transformer) as close as its extent allows and its direction.
- `randomise_locations`: every stroke translated whole to the inversion's random starting location
  (`strokelens.inversion.noisy_locations`: the bounding-box centre plus N(0, ``sigma``^2) per
  coordinate in the normalised frame, clipped so the stroke stays inside the bounding box). Shapes
  and order are unchanged.

Random draws are made per drawing from a generator seeded by ``(seed, index)``, ``index`` being the
drawing's position in the whole run (``first`` plus its position in the list): a drawing gets the
same permutation and the same location noise whatever the batch it is in, and the component game
(`strokelens.analysis.game`) uses the very draws these functions use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.inversion import bbox_centre, location_bounds, noisy_locations, place, stroke_offsets
from strokelens.sketch import Sketch, SketchBatch, sketch_list

#: The inversion's default noise scale (fraction of the drawing's longer side).
DEFAULT_SIGMA = 0.1


def drawing_generator(seed: int, index: int) -> torch.Generator:
    """The generator of drawing ``index``'s draws under ``seed`` (both non-negative)."""
    if seed < 0 or index < 0:
        raise StrokelensError(f"seeds must be non-negative integers, got {seed}")
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def draws(n_strokes: Sequence[int], seed: int, first: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per drawing, a stroke permutation ``(n,)`` and location noise: ``(perms, eps (B, S, 2))``,
    ``S`` the largest stroke count (zero noise on missing slots). Drawing ``i`` draws from
    `drawing_generator` ``(seed, first + i)``: first the permutation, then the noise."""
    perms, noise = [], []
    for i, n in enumerate(n_strokes):
        gen = drawing_generator(seed, first + i)
        perms.append(torch.randperm(int(n), generator=gen))
        noise.append(torch.randn(int(n), 2, generator=gen))
    eps = torch.zeros(len(noise), max(int(n) for n in n_strokes), 2)
    for i, e in enumerate(noise):
        eps[i, : len(e)] = e
    return perms, eps


def permute_noise(eps: torch.Tensor, perms: Sequence[torch.Tensor]) -> torch.Tensor:
    """``eps`` ``(B, S, 2)`` following the strokes: slot ``k`` of the shuffled drawing holds stroke
    ``perm[k]``, so it takes that stroke's noise."""
    out = eps.clone()
    for i, perm in enumerate(perms):
        out[i, : len(perm)] = eps[i, perm]
    return out


def permute_strokes(sketches: Sequence[Sketch], perms: Sequence[torch.Tensor]) -> list[Sketch]:
    """Every sketch with its strokes in the order ``perm`` (stroke ``perm[k]`` drawn ``k``-th)."""
    out = []
    for s, perm in zip(sketches, perms, strict=True):
        order = [int(k) for k in perm]
        sub = s.subset(order)
        out.append(replace(sub, times=None))
    return out


def shuffle_order(sketches: Sequence[Sketch], seed: int = 0, first: int = 0) -> list[Sketch]:
    """The sketches with their strokes in a uniformly random order (seeded; see the module notes).
    A uniform permutation can be the identity: a 2-stroke drawing keeps its order half the time."""
    sketches = _check(sketches)
    perms, _ = draws([s.n_strokes for s in sketches], seed, first)
    return permute_strokes(sketches, perms)


def straighten_shapes(sketches: Sequence[Sketch]) -> list[Sketch]:
    """Every stroke replaced by the diagonal of its bounding box, two points, from the corner nearest
    its first point (see the module notes). Parts and times keep their first and last values."""
    sketches = _check(sketches)
    counts = np.concatenate([[len(st) for st in s.strokes] for s in sketches])
    pts = np.concatenate([s.points() for s in sketches])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo = np.minimum.reduceat(pts, starts, axis=0)  # every stroke of every drawing at once
    hi = np.maximum.reduceat(pts, starts, axis=0)
    p0 = pts[starts]
    near_lo = np.abs(p0 - lo) <= np.abs(p0 - hi)  # per axis: the nearest corner is the nearest side
    a = np.where(near_lo, lo, hi)
    b = np.where(near_lo, hi, lo)
    segments = np.stack([a, b], axis=1)  # (strokes, 2, 2)
    out, k = [], 0
    for s in sketches:
        n = s.n_strokes
        changes = {}
        for name in ("times", "parts"):
            extra = getattr(s, name)
            if extra is not None:
                changes[name] = [np.array([e[0], e[-1]]) for e in extra]
        out.append(replace(s, strokes=list(segments[k : k + n]), **changes))
        k += n
    return out


def randomised_points(
    points: torch.Tensor,
    stroke_ids: torch.Tensor,
    n_strokes: torch.Tensor,
    eps: torch.Tensor,
    sigma: float = DEFAULT_SIGMA,
) -> torch.Tensor:
    """Padded points ``(B, N, 2)`` (``stroke_ids`` ``-1`` on padding) with every stroke moved whole to
    the inversion's random start for noise ``eps`` ``(B, S, 2)``: the bounding-box centre plus
    ``sigma * eps``, clipped to keep the stroke inside the bounding box. ``points`` are in the
    normalised frame (longer side 1), where ``sigma`` is a fraction of the drawing."""
    n_slots = eps.shape[1]
    relative, true = stroke_offsets(points, stroke_ids, n_slots)
    centre = bbox_centre(points, stroke_ids >= 0)
    bounds = location_bounds(relative, stroke_ids, true, n_strokes)
    locations = noisy_locations(true, centre, n_strokes, eps.to(points.device), sigma, "replace", bounds)
    return place(relative, stroke_ids, locations)


def randomise_locations(
    sketches: Sequence[Sketch], sigma: float = DEFAULT_SIGMA, seed: int = 0, first: int = 0
) -> list[Sketch]:
    """The sketches with every stroke translated whole to a random location (the inversion's starting
    point, see the module notes), in their own coordinates; shapes and order unchanged."""
    sketches = _check(sketches)
    if sigma < 0:
        raise StrokelensError(f"sigma must be non-negative, got {sigma}")
    _, eps = draws([s.n_strokes for s in sketches], seed, first)
    lows, scales = [], []
    normal = []
    for s in sketches:
        pts = s.points()
        lo = pts.min(axis=0)
        extent = float((pts.max(axis=0) - lo).max())
        lows.append(lo)
        scales.append(extent if extent > 0 else 1.0)
        normal.append(s.normalized(1.0))
    batch = SketchBatch.from_sketches(normal, dtype=torch.float64)
    sid = torch.where(batch.point_mask, batch.stroke_ids, torch.full_like(batch.stroke_ids, -1))
    moved = randomised_points(batch.points, sid, batch.n_strokes, eps.double(), sigma).numpy()
    out = []
    for i, s in enumerate(sketches):
        pts = moved[i, : s.n_points] * scales[i] + lows[i]
        out.append(replace(s, strokes=np.split(pts, np.cumsum([len(st) for st in s.strokes])[:-1])))
    return out


def _check(sketches: Sequence[Sketch]) -> list[Sketch]:
    return sketch_list(sketches, "a disturbance")
