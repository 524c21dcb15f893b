"""A request's strokes checked and turned into a `Sketch`, and back.

Over the stroke or point limit: 413. Wrong shapes, non-finite or huge coordinates, a blank canvas or a
single dot: 422, each with a message that says what to do. Every error is an `ApiError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from strokelens.errors import StrokelensError
from strokelens.serve import schemas
from strokelens.sketch import Sketch


class ApiError(Exception):
    """A request the server refuses: an HTTP ``status`` and a one-line ``message`` for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def to_sketch(strokes: schemas.Strokes, label: str | None = None) -> Sketch:
    """The drawing of a request: each stroke ``[xs, ys]`` (or ``[xs, ys, ts]``) of equal lengths.

    Refuses, in this order: too many strokes or points (413), a malformed stroke (422), a blank canvas
    or a drawing whose points all coincide (422: a dot is not something a model can read)."""
    if len(strokes) > schemas.MAX_STROKES:
        raise ApiError(413, f"{len(strokes)} strokes exceeds the limit of {schemas.MAX_STROKES}")
    n_points = sum(len(s[0]) for s in strokes if s)
    if n_points > schemas.MAX_POINTS:
        raise ApiError(413, f"{n_points} points exceeds the limit of {schemas.MAX_POINTS}")
    if not strokes:
        raise ApiError(422, "the canvas is blank: draw something first")
    arrays = []
    for k, stroke in enumerate(strokes):
        if len(stroke) not in (2, 3):
            raise ApiError(422, f"stroke {k} must be [xs, ys] or [xs, ys, ts], got {len(stroke)} arrays")
        if len({len(a) for a in stroke}) != 1 or not stroke[0]:
            raise ApiError(422, f"stroke {k}: xs and ys must be non-empty and of one length")
        arrays.append(np.asarray(stroke[:2], dtype=np.float64).T)
    try:
        sketch = Sketch(strokes=arrays, label=label, source="request")
    except StrokelensError as e:
        raise ApiError(422, str(e)) from None
    if extent(sketch) == 0:
        raise ApiError(422, "the drawing is a single dot: draw a line or a shape for the model to read")
    return sketch


def to_strokes(sketch: Sketch, decimals: int = 2) -> schemas.Strokes:
    """A sketch's strokes as ``[[xs, ys], ...]``, rounded."""
    return [np.round(s.T, decimals).tolist() for s in sketch.strokes]


def canvas_frame(sketch: Sketch, normalised: bool) -> tuple[np.ndarray, float]:
    """``(origin, scale)`` with ``request point = origin + scale * prepared point``. ``normalised``:
    the view's preparation is QuickDraw's recipe, which scales the longer side to 0..255 from the
    top-left corner (`Sketch.normalized`); otherwise it leaves the points as they are."""
    if not normalised:
        return np.zeros(2), 1.0
    pts = sketch.points()
    lo = pts.min(axis=0)
    return lo, float((pts.max(axis=0) - lo).max()) / 255.0


def extent(sketch: Sketch) -> float:
    """The longer side of a sketch's bounding box."""
    xmin, ymin, xmax, ymax = sketch.bbox()
    return max(xmax - xmin, ymax - ymin)


def polylines(
    points: np.ndarray,
    segment_unit: np.ndarray,
    stroke_ids: np.ndarray,
    n_units: int,
    origin: np.ndarray,
    scale: float,
) -> list[list[list[float]]]:
    """Each unit's points ``[[x, y], ...]`` in request coordinates, from one sketch's padded
    ``points`` (N, 2), ``segment_unit`` (N,) (the segment starting at a point belongs to a unit) and
    ``stroke_ids`` (N,): a unit runs from its first point to the end of its last segment, on its stroke."""
    out: list[list[list[float]]] = []
    idx = np.arange(len(segment_unit))
    xy = origin + scale * points
    for u in range(n_units):
        mine = idx[segment_unit == u]
        if len(mine) == 0:
            out.append([])
            continue
        first, last = int(mine.min()), int(mine.max())
        if last + 1 < len(stroke_ids) and stroke_ids[last + 1] == stroke_ids[last]:
            last += 1
        out.append(np.round(xy[first : last + 1], 2).tolist())
    return out


def rounded(values: Sequence[float], decimals: int = 6) -> list[float]:
    return [round(float(v), decimals) for v in values]
