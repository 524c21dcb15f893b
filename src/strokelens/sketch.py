"""`Sketch`: one vector drawing, and `SketchBatch`: many of them padded into tensors.

A sketch is a list of strokes; each stroke is an ``(n, 2)`` float array of x, y points (y grows
downwards, as in QuickDraw and SVG). Optional per-point arrays ride along: ``times`` (milliseconds)
and ``parts`` (integer semantic part labels, as in SPG). Operations return new sketches.

Geometry helpers (normalise, simplify, resample) work on all strokes at once with NumPy: no Python
loop over points.

PyTorch is imported only when a `SketchBatch` is built or used, so reading and describing sketches
(``strokelens info``) starts without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from strokelens.errors import StrokelensError, where
from strokelens.polylines import rdp_keep_mask

if TYPE_CHECKING:
    import torch

#: A drawing with more strokes than this is refused (QuickDraw drawings have at most a few hundred).
MAX_STROKES = 2048
#: A drawing with more points than this is refused.
MAX_POINTS = 500_000
#: Coordinates larger than this in magnitude are refused as corrupt.
MAX_COORDINATE = 1e6
#: The QuickDraw frame: coordinates normalised to 0..255.
QUICKDRAW_FRAME = 255.0


@dataclass(eq=False)
class Sketch:
    """A vector sketch: strokes of (x, y) points with optional per-point time and part label."""

    strokes: list[np.ndarray]
    times: list[np.ndarray] | None = None
    parts: list[np.ndarray] | None = None
    part_names: list[str] | None = None
    label: str | None = None
    key_id: str | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in self.strokes]
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise `StrokelensError` if the sketch is empty, too large or has non-finite points."""
        loc = where(self.source)
        if not self.strokes:
            raise StrokelensError(f"{loc}: drawing has no strokes")
        if len(self.strokes) > MAX_STROKES:
            raise StrokelensError(f"{loc}: {len(self.strokes)} strokes exceeds the limit of {MAX_STROKES}")
        lengths = [len(s) for s in self.strokes]
        if min(lengths) == 0:
            raise StrokelensError(f"{loc}: stroke {lengths.index(0)} has no points")
        if sum(lengths) > MAX_POINTS:
            raise StrokelensError(f"{loc}: {sum(lengths)} points exceeds the limit of {MAX_POINTS}")
        pts = np.concatenate(self.strokes)
        bad = ~np.isfinite(pts) | (np.abs(pts) > MAX_COORDINATE)
        if bad.any():
            row = int(np.argmax(bad.any(axis=1)))
            stroke = int(np.searchsorted(np.cumsum(lengths), row, side="right"))
            raise StrokelensError(
                f"{loc}: stroke {stroke} has a non-finite or out-of-range coordinate {pts[row].tolist()} "
                f"(limit |x| <= {MAX_COORDINATE:g})"
            )
        for name in ("times", "parts"):
            extra = getattr(self, name)
            if extra is None:
                continue
            if len(extra) != len(self.strokes) or any(
                len(e) != n for e, n in zip(extra, lengths, strict=False)
            ):
                raise StrokelensError(f"{loc}: per-point {name} do not match the strokes' point counts")

    # ------------------------------------------------------------- properties
    @property
    def n_strokes(self) -> int:
        return len(self.strokes)

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.strokes)

    @property
    def stroke_lengths(self) -> np.ndarray:
        """Arc length of every stroke."""
        return np.array([np.linalg.norm(np.diff(s, axis=0), axis=1).sum() for s in self.strokes])

    def points(self) -> np.ndarray:
        """All points, concatenated in drawing order, shape ``(n_points, 2)``."""
        return np.concatenate(self.strokes)

    def stroke_index(self) -> np.ndarray:
        """Stroke id of every point of `points`."""
        return np.repeat(np.arange(self.n_strokes), [len(s) for s in self.strokes])

    def bbox(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)``."""
        pts = self.points()
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    # ------------------------------------------------------------- transforms
    def _with_points(self, pts: np.ndarray, counts: Sequence[int], **changes) -> Sketch:
        splits = np.cumsum(counts)[:-1]
        return replace(self, strokes=np.split(pts, splits), **changes)

    def normalized(self, frame: float = QUICKDRAW_FRAME) -> Sketch:
        """Move the top-left corner to 0 and scale uniformly so the longer side spans ``0..frame``."""
        pts = self.points()
        lo = pts.min(axis=0)
        extent = float((pts.max(axis=0) - lo).max())
        scale = frame / extent if extent > 0 else 1.0
        return self._with_points((pts - lo) * scale, [len(s) for s in self.strokes])

    def resampled(self, spacing: float = 1.0) -> Sketch:
        """Resample every stroke at (at most) ``spacing`` arc length between points, endpoints kept."""
        if spacing <= 0:
            raise StrokelensError(f"resample spacing must be positive, got {spacing}")
        counts = np.array([len(s) for s in self.strokes])
        pts = self.points()
        sid = self.stroke_index()
        step = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        step[sid[1:] != sid[:-1]] = 0.0
        cum = np.concatenate([[0.0], np.cumsum(step)])
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        local = cum - cum[starts][sid]  # arc length from each stroke's start
        total = local[starts + counts - 1]
        n_new = np.maximum(np.ceil(total / spacing).astype(np.int64), 0) + 1
        n_new[total == 0] = 1
        # Strokes side by side on one global axis, so that one search serves them all.
        gap = float(total.max()) + 1.0
        offset = np.arange(len(counts)) * gap
        gx = local + offset[sid]
        new_sid = np.repeat(np.arange(len(counts)), n_new)
        first = np.concatenate([[0], np.cumsum(n_new)[:-1]])
        k = np.arange(n_new.sum()) - first[new_sid]
        frac = np.where(n_new[new_sid] > 1, k / np.maximum(n_new[new_sid] - 1, 1), 0.0)
        q_local = frac * total[new_sid]
        gq = offset[new_sid] + q_local
        # The global axis only finds each query's segment; the interpolation itself is local to the
        # stroke, so a stroke resamples to the same points whatever other strokes share the call.
        last = (starts + counts - 1)[new_sid]
        first_pt = starts[new_sid]
        seg = np.clip(np.searchsorted(gx, gq, side="right") - 1, first_pt, np.maximum(last - 1, first_pt))
        nxt = np.minimum(seg + 1, last)
        span = local[nxt] - local[seg]
        t = np.where(span > 0, (q_local - local[seg]) / np.where(span > 0, span, 1.0), 0.0)
        t = np.clip(t, 0.0, 1.0)
        new_pts = pts[seg] + t[:, None] * (pts[nxt] - pts[seg])
        changes: dict = {}
        if self.times is not None:
            times = np.concatenate(self.times).astype(np.float64)
            new_times = times[seg] + t * (times[nxt] - times[seg])
            changes["times"] = np.split(new_times, np.cumsum(n_new)[:-1])
        if self.parts is not None:
            lab = np.concatenate(self.parts)
            src = np.clip(np.searchsorted(gx, gq, side="right") - 1, 0, len(gx) - 1)
            changes["parts"] = np.split(lab[src], np.cumsum(n_new)[:-1])
        return self._with_points(new_pts, n_new, **changes)

    def simplified(self, epsilon: float = 2.0) -> Sketch:
        """Ramer-Douglas-Peucker simplification of every stroke (all strokes processed together)."""
        keep = rdp_keep_mask(self.points(), np.array([len(s) for s in self.strokes]), epsilon)
        return self._select_points(keep)

    def quickdraw_simplified(self) -> Sketch:
        """QuickDraw's "simplified" recipe: normalise to 0-255, resample at 1 unit, RDP with epsilon 2."""
        return self.normalized().resampled(1.0).simplified(2.0)

    def _select_points(self, keep: np.ndarray) -> Sketch:
        counts = np.bincount(self.stroke_index()[keep], minlength=self.n_strokes)
        changes: dict = {}
        for name in ("times", "parts"):
            extra = getattr(self, name)
            if extra is not None:
                changes[name] = np.split(np.concatenate(extra)[keep], np.cumsum(counts)[:-1])
        return self._with_points(self.points()[keep], counts, **changes)

    def subset(self, stroke_ids: Sequence[int]) -> Sketch:
        """A sketch made of the given strokes only, in the given order."""
        ids = list(stroke_ids)
        if not ids:
            raise StrokelensError(f"{where(self.source)}: a subset needs at least one stroke")
        changes: dict = {}
        for name in ("times", "parts"):
            extra = getattr(self, name)
            if extra is not None:
                changes[name] = [extra[i] for i in ids]
        return replace(self, strokes=[self.strokes[i] for i in ids], **changes)

    # ------------------------------------------------------ stroke-3 / stroke-5
    def to_stroke3(self) -> np.ndarray:
        """sketch-rnn stroke-3: rows ``(dx, dy, pen_lift)``; the first offset is from the origin."""
        pts = self.points()
        out = np.zeros((len(pts), 3), dtype=np.float64)
        out[:, :2] = np.diff(pts, axis=0, prepend=np.zeros((1, 2)))
        out[np.cumsum([len(s) for s in self.strokes]) - 1, 2] = 1.0
        return out

    @classmethod
    def from_stroke3(cls, data: np.ndarray, **meta) -> Sketch:
        """Inverse of `to_stroke3`. A trailing stroke without a pen lift is closed."""
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) == 0:
            raise StrokelensError(
                f"{where(meta.get('source'))}: stroke-3 needs shape (n, 3), got {arr.shape}"
            )
        pen = arr[:, 2]
        if not np.isin(pen, (0.0, 1.0)).all():
            bad = pen[~np.isin(pen, (0.0, 1.0))][0]
            raise StrokelensError(f"{where(meta.get('source'))}: stroke-3 pen values are 0 or 1, got {bad:g}")
        pts = np.cumsum(arr[:, :2], axis=0)
        ends = np.flatnonzero(pen > 0.5) + 1
        if len(ends) == 0 or ends[-1] != len(arr):
            ends = np.append(ends, len(arr))
        return cls(strokes=np.split(pts, ends[:-1]), **meta)

    def to_stroke5(self, max_len: int | None = None) -> np.ndarray:
        """sketch-rnn stroke-5 ``(dx, dy, p_down, p_up, p_end)``, padded with end rows to ``max_len``."""
        s3 = self.to_stroke3()
        n = len(s3)
        length = n if max_len is None else max_len
        if length < n:
            raise StrokelensError(f"{where(self.source)}: {n} points do not fit stroke-5 of length {length}")
        out = np.zeros((length, 5))
        out[:n, :2] = s3[:, :2]
        out[:n, 3] = s3[:, 2]
        out[:n, 2] = 1 - s3[:, 2]
        out[n:, 4] = 1
        return out

    @classmethod
    def from_stroke5(cls, data: np.ndarray, **meta) -> Sketch:
        """Inverse of `to_stroke5`: rows up to the first ``p_end`` row."""
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 5:
            raise StrokelensError(
                f"{where(meta.get('source'))}: stroke-5 needs shape (n, 5), got {arr.shape}"
            )
        end = np.flatnonzero(arr[:, 4] > 0.5)
        arr = arr[: end[0]] if len(end) else arr
        return cls.from_stroke3(np.column_stack([arr[:, :2], arr[:, 3]]), **meta)


def sketch_list(items: Sequence[object], what: str) -> list[Sketch]:
    """``items`` as a non-empty list of `Sketch` objects, or an error saying ``what`` takes them."""
    sketches = list(items)
    if not sketches:
        raise StrokelensError(f"no sketches given to {what}")
    bad = next((type(s).__name__ for s in sketches if not isinstance(s, Sketch)), None)
    if bad is not None:
        raise StrokelensError(f"{what} takes Sketch objects, got {bad}")
    return sketches  # type: ignore[return-value]


@dataclass(eq=False)
class SketchBatch:
    """Sketches of different sizes padded into tensors; the form every model and method takes.

    ``points``: ``(B, N, 2)`` float, all points of each sketch in drawing order, zero padded.
    ``stroke_ids``: ``(B, N)`` long, the stroke of each point, ``-1`` on padding.
    ``point_mask``: ``(B, N)`` bool. ``n_strokes``: ``(B,)`` long.
    ``parts`` / ``times``: optional ``(B, N)`` tensors (``-1`` / ``0`` where unknown).
    ``sketches``: the source sketches (labels, ids, part names).
    """

    points: torch.Tensor
    stroke_ids: torch.Tensor
    point_mask: torch.Tensor
    n_strokes: torch.Tensor
    sketches: list[Sketch]
    parts: torch.Tensor | None = None
    times: torch.Tensor | None = None

    @classmethod
    def from_sketches(
        cls,
        sketches: Sequence[Sketch],
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> SketchBatch:
        """Pad ``sketches`` into one batch (one concatenation, one scatter: no per-point loop).

        ``dtype`` is that of ``points`` (default ``torch.float32``).
        """
        import torch

        dtype = torch.float32 if dtype is None else dtype
        sketches = list(sketches)
        if not sketches:
            raise StrokelensError("cannot build a batch from zero sketches")
        n_pts = np.array([s.n_points for s in sketches])
        width = int(n_pts.max())
        rows = np.repeat(np.arange(len(sketches)), n_pts)
        cols = np.arange(n_pts.sum()) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts)
        flat = np.concatenate([s.points() for s in sketches])
        pts = np.zeros((len(sketches), width, 2), dtype=np.float64)
        pts[rows, cols] = flat
        sid = np.full((len(sketches), width), -1, dtype=np.int64)
        sid[rows, cols] = np.concatenate([s.stroke_index() for s in sketches])
        mask = sid >= 0

        def optional(name: str, fill: float, np_dtype) -> torch.Tensor | None:
            if all(getattr(s, name) is None for s in sketches):
                return None
            out = np.full((len(sketches), width), fill, dtype=np_dtype)
            vals = [
                np.concatenate(getattr(s, name))
                if getattr(s, name) is not None
                else np.full(s.n_points, fill)
                for s in sketches
            ]
            out[rows, cols] = np.concatenate(vals)
            return torch.as_tensor(out, device=device)

        return cls(
            points=torch.as_tensor(pts, dtype=dtype, device=device),
            stroke_ids=torch.as_tensor(sid, device=device),
            point_mask=torch.as_tensor(mask, device=device),
            n_strokes=torch.as_tensor([s.n_strokes for s in sketches], device=device),
            sketches=sketches,
            parts=optional("parts", -1, np.int64),
            times=optional("times", 0.0, np.float64),
        )

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def device(self) -> torch.device:
        return self.points.device

    @property
    def max_strokes(self) -> int:
        return int(self.n_strokes.max())

    @property
    def stroke_mask(self) -> torch.Tensor:
        """``(B, S)`` bool: which stroke slots hold a real stroke."""
        import torch

        ar = torch.arange(self.max_strokes, device=self.device)
        return ar[None, :] < self.n_strokes[:, None]

    def to(self, device: torch.device | str) -> SketchBatch:
        """The same batch on another device."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            self,
            points=self.points.to(device),
            stroke_ids=self.stroke_ids.to(device),
            point_mask=self.point_mask.to(device),
            n_strokes=self.n_strokes.to(device),
            parts=move(self.parts),
            times=move(self.times),
        )

    def with_points(self, points: torch.Tensor) -> SketchBatch:
        """The same batch with new point coordinates (for example normalised or optimised ones)."""
        return replace(self, points=points)

    def segments(self, points: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Segments between consecutive points of a stroke: ``(starts, ends, stroke)``.

        Segment ``k`` runs from point ``k`` to point ``k + 1`` when both lie on one stroke; at the last
        point of a stroke it is a dot (``start == end``), which also draws single-point strokes.
        ``stroke`` is ``-1`` on padding. Differentiable with respect to ``points``.
        """
        import torch

        pts = self.points if points is None else points
        sid = self.stroke_ids
        nxt_sid = torch.cat([sid[:, 1:], torch.full_like(sid[:, :1], -1)], dim=1)
        same = (nxt_sid == sid) & (sid >= 0)
        nxt = torch.cat([pts[:, 1:], pts[:, -1:]], dim=1)
        ends = torch.where(same[..., None], nxt, pts)
        return pts, ends, sid
