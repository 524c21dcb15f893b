"""Polyline geometry on many polylines at once (concatenated points plus their lengths), in NumPy:
Ramer-Douglas-Peucker simplification (`rdp_keep_mask`), with no Python loop over points."""

from __future__ import annotations

import numpy as np


def _on_segment_between(points: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Points that lie on the segment between their two neighbours in the same polyline (within
    1e-9): a point's distance to any line, or to any point, is at most the larger of its neighbours',
    so RDP never needs it to choose a split (resampled strokes are mostly such points)."""
    n = len(points)
    inner = np.zeros(n, dtype=bool)
    if n < 3:
        return inner
    a, m, b = points[:-2], points[1:-1], points[2:]
    ab = b - a
    cross = np.abs(ab[:, 0] * (m[:, 1] - a[:, 1]) - ab[:, 1] * (m[:, 0] - a[:, 0]))
    between = ((a - m) * (b - m)).sum(axis=1) < 0  # strictly: a repeated point (a turn) stays
    sid = np.repeat(np.arange(len(counts)), counts)
    same = (sid[:-2] == sid[1:-1]) & (sid[2:] == sid[1:-1])
    inner[1:-1] = (cross <= 1e-9 * np.hypot(ab[:, 0], ab[:, 1])) & between & same
    return inner


def rdp_keep_mask(points: np.ndarray, counts: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker over many polylines at once.

    ``points`` holds the polylines concatenated, ``counts`` their lengths. Each pass splits every open
    interval at its farthest point in one vectorised step, so the number of passes is the recursion
    depth, not the number of points. Points on the segment between their neighbours never decide a
    split and are left out first (about 70% of a resampled stroke's). Returns a boolean mask of the
    points to keep.
    """
    counts = np.asarray(counts, dtype=np.int64)
    inner = _on_segment_between(points, counts)
    if inner.any():
        cand = np.flatnonzero(~inner)
        sid = np.repeat(np.arange(len(counts)), counts)
        kept = _rdp_keep_mask(points[cand], np.bincount(sid[cand], minlength=len(counts)), epsilon)
        keep = np.zeros(len(points), dtype=bool)
        keep[cand[kept]] = True
        return keep
    return _rdp_keep_mask(points, counts, epsilon)


def _rdp_keep_mask(points: np.ndarray, counts: np.ndarray, epsilon: float) -> np.ndarray:
    n = len(points)
    keep = np.zeros(n, dtype=bool)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    keep[starts] = True
    keep[starts + counts - 1] = True
    done = keep.copy()  # points whose fate is settled
    idx = np.arange(n)
    while not done.all():
        prev = np.maximum.accumulate(np.where(keep, idx, 0))
        nxt = np.minimum.accumulate(np.where(keep, idx, n - 1)[::-1])[::-1]
        open_pts = np.flatnonzero(~done)
        a, b, p = points[prev[open_pts]], points[nxt[open_pts]], points[open_pts]
        chord = b - a
        norm = np.hypot(chord[:, 0], chord[:, 1])
        cross = np.abs(chord[:, 0] * (p[:, 1] - a[:, 1]) - chord[:, 1] * (p[:, 0] - a[:, 0]))
        dist = np.where(norm > 0, cross / np.where(norm > 0, norm, 1.0), np.hypot(*(p - a).T))
        group = prev[open_pts]
        # Group boundaries: open points of one interval are contiguous and share `prev`.
        bounds = np.flatnonzero(np.diff(group)) + 1
        gstart = np.concatenate([[0], bounds])
        gmax = np.maximum.reduceat(dist, gstart)
        gid = np.repeat(np.arange(len(gstart)), np.diff(np.append(gstart, len(group))))
        # Ties within 1e-9 go to the first point, so that rounding noise (a stroke resampled beside
        # different strokes) never changes which point is kept.
        is_max = dist >= gmax[gid] - 1e-9
        # First arg-max in each group.
        cand = np.flatnonzero(is_max)
        first_max = cand[np.concatenate([[True], gid[cand][1:] != gid[cand][:-1]])]
        split = gmax[gid[first_max]] > epsilon
        keep[open_pts[first_max[split]]] = True
        settled = ~split[gid]
        done[open_pts[settled]] = True
        done[open_pts[first_max[split]]] = True
    return keep
