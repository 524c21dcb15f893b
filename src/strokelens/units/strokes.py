"""Sketch units: strokes, or stroke pieces of equal arc length.

A `SketchUnits` object says which unit every segment of a padded batch belongs to. The game built on it
switches units on and off with a presence weight ``z`` in [0, 1] per unit. Pieces are made by
inserting a point at every piece boundary, so each segment lies in exactly one piece; the inserted
points are linear interpolations of the original ones, kept differentiable through `interpolate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units.base import Units, rows_list

#: The unit kinds of sketches: whole strokes, or pieces of strokes.
STROKE, PIECE = "stroke", "piece"
UNIT_KINDS = (STROKE, PIECE)


@dataclass(eq=False)
class SketchUnits(Units):
    """A unit assignment for a batch of sketches.

    ``batch``: the batch the segments come from (for pieces, with boundary points inserted).
    ``segment_unit``: ``(B, N)`` long, the unit of the segment starting at each point, ``-1`` on padding.
    ``n_units``: ``(B,)`` long. ``unit_stroke``: ``(B, K)`` long, the stroke each unit lies on (``-1``
    on padding). ``source_index``/``source_next``/``source_t``: ``(B, N)``, each point of ``batch`` as
    ``(1 - t) * p[source_index] + t * p[source_next]`` of the original batch's points.
    ``options``: how pieces were cut (``pieces_per_stroke``, ``piece_length``), so `select` can recut.
    """

    KINDS = UNIT_KINDS

    kind: str
    original: SketchBatch
    batch: SketchBatch
    segment_unit: torch.Tensor
    n_units: torch.Tensor
    unit_stroke: torch.Tensor
    source_index: torch.Tensor | None = None
    source_next: torch.Tensor | None = None
    source_t: torch.Tensor | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the points (presence vectors use the same)."""
        return self.batch.points.dtype

    @property
    def sketches(self) -> list[Sketch]:
        """The sketches these units were made from."""
        return self.original.sketches

    def to(self, device: torch.device | str) -> SketchUnits:
        """The same units with every tensor on ``device``."""
        if torch.device(device) == self.n_units.device:
            return self
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            self,
            original=self.original.to(device),
            batch=self.batch.to(device),
            segment_unit=self.segment_unit.to(device),
            n_units=self.n_units.to(device),
            unit_stroke=self.unit_stroke.to(device),
            source_index=move(self.source_index),
            source_next=move(self.source_next),
            source_t=move(self.source_t),
        )

    def select(self, rows: Sequence[int] | torch.Tensor) -> SketchUnits:
        """The units of sketches ``rows`` only (cut again the same way)."""
        idx = rows_list(rows)
        sub = SketchBatch.from_sketches(
            [self.original.sketches[i] for i in idx], device=self.original.device, dtype=self.dtype
        )
        return make_units(sub, self.kind, **self.options)

    def label(self, i: int) -> str | None:
        return self.original.sketches[i].label

    def part_names(self, i: int) -> list[str]:
        return list(self.original.sketches[i].part_names or [])

    def points(self, original_points: torch.Tensor | None = None) -> torch.Tensor:
        """This assignment's points as a differentiable function of the original batch's points."""
        if original_points is None:
            original_points = self.original.points
        if self.source_index is None:
            return original_points
        a = torch.gather(original_points, 1, self.source_index[..., None].expand(-1, -1, 2))
        b = torch.gather(original_points, 1, self.source_next[..., None].expand(-1, -1, 2))
        t = self.source_t[..., None].to(original_points.dtype)
        return a * (1 - t) + b * t

    def fingerprint(self, i: int) -> bytes:
        """Sketch ``i``'s points and stroke lengths, and how it is cut into units."""
        sketch = self.original.sketches[i]
        cut = repr((self.kind, sorted(self.options.items()), [len(s) for s in sketch.strokes])).encode()
        return cut + b"".join(np.ascontiguousarray(s, dtype=np.float64).tobytes() for s in sketch.strokes)

    @property
    def whole_strokes(self) -> bool:
        """Whether each unit is a whole stroke (``stroke`` units), not a piece of one."""
        return self.kind == STROKE

    def item(self, i: int) -> dict:
        """Identity of input ``i`` for records: ``id``, ``source`` (file and line) and, for pieces,
        ``unit_stroke`` (the stroke of every piece)."""
        sketch = self.original.sketches[i]
        out = {"id": sketch.key_id or str(i), "source": sketch.source}
        if not self.whole_strokes:
            out["unit_stroke"] = self.unit_stroke[i, : int(self.n_units[i])].tolist()
        return out

    def unit_lengths(self) -> torch.Tensor:
        """``(B, K)`` arc length of every unit (0 on padding)."""
        starts, ends, _ = self.batch.segments()
        seg_len = (ends - starts).norm(dim=-1)
        out = torch.zeros(len(self.batch), self.max_units, dtype=seg_len.dtype, device=seg_len.device)
        valid = self.segment_unit >= 0
        idx = self.segment_unit.clamp(min=0)
        return out.scatter_add_(1, idx, torch.where(valid, seg_len, torch.zeros_like(seg_len)))

    def unit_parts(self) -> torch.Tensor | None:
        """``(B, K)`` majority part label of every unit's points, ``-1`` where unknown."""
        if self.batch.parts is None:
            return None
        parts = self.batch.parts
        n_parts = int(parts.max()) + 1
        if n_parts <= 0:
            return None
        b, k = len(self.batch), self.max_units
        counts = torch.zeros(b, k * n_parts, dtype=torch.long, device=parts.device)
        ok = (self.segment_unit >= 0) & (parts >= 0)
        flat = (self.segment_unit.clamp(min=0) * n_parts + parts.clamp(min=0)).masked_fill(~ok, 0)
        counts.scatter_add_(1, flat, ok.long())
        counts = counts.view(b, k, n_parts)
        best = counts.argmax(dim=-1)
        return torch.where(counts.sum(-1) > 0, best, torch.full_like(best, -1))


def stroke_units(batch: SketchBatch) -> SketchUnits:
    """One unit per stroke."""
    ar = torch.arange(batch.max_strokes, device=batch.device)
    unit_stroke = torch.where(ar[None] < batch.n_strokes[:, None], ar[None], torch.full_like(ar[None], -1))
    return SketchUnits(
        kind="stroke",
        original=batch,
        batch=batch,
        segment_unit=batch.stroke_ids,
        n_units=batch.n_strokes,
        unit_stroke=unit_stroke,
    )


def piece_units(
    batch: SketchBatch, pieces_per_stroke: int | None = 3, piece_length: float | None = None
) -> SketchUnits:
    """Cut every stroke into pieces of equal arc length.

    Give either ``pieces_per_stroke`` (a fixed count) or ``piece_length`` (a target length in the
    sketch's own coordinates; each stroke gets ``max(1, round(length / piece_length))`` pieces).
    Strokes of zero length (dots) are one piece.
    """
    if piece_length is not None:
        if piece_length <= 0:
            raise StrokelensError(f"piece_length must be positive, got {piece_length}")
    elif pieces_per_stroke is None or pieces_per_stroke < 1:
        raise StrokelensError(f"pieces_per_stroke must be at least 1, got {pieces_per_stroke}")
    cut = [_cut_sketch(s, pieces_per_stroke, piece_length) for s in batch.sketches]
    new_sketches = [c[0] for c in cut]
    new_batch = SketchBatch.from_sketches(new_sketches, device=batch.device, dtype=batch.points.dtype)
    b, n = new_batch.points.shape[:2]

    def pad(values: list[np.ndarray], fill, dtype) -> torch.Tensor:
        out = np.full((b, n), fill, dtype=dtype)
        for i, v in enumerate(values):
            out[i, : len(v)] = v
        return torch.as_tensor(out, device=batch.device)

    n_units = torch.as_tensor([int(c[4].max()) + 1 for c in cut], device=batch.device)
    k = int(n_units.max())
    unit_stroke = np.full((b, k), -1, dtype=np.int64)
    for i, c in enumerate(cut):
        unit_stroke[i, : len(c[5])] = c[5]
    return SketchUnits(
        kind="piece",
        original=batch,
        batch=new_batch,
        segment_unit=pad([c[4] for c in cut], -1, np.int64),
        n_units=n_units,
        unit_stroke=torch.as_tensor(unit_stroke, device=batch.device),
        source_index=pad([c[1] for c in cut], 0, np.int64),
        source_next=pad([c[2] for c in cut], 0, np.int64),
        source_t=pad([c[3] for c in cut], 0.0, np.float64),
        options={"pieces_per_stroke": pieces_per_stroke, "piece_length": piece_length},
    )


def _cut_sketch(sketch: Sketch, per_stroke: int | None, piece_length: float | None):
    """Insert piece-boundary points into one sketch (all strokes at once, NumPy)."""
    pts = sketch.points()
    sid = sketch.stroke_index()
    counts = np.array([len(s) for s in sketch.strokes])
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    step = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    step[sid[1:] != sid[:-1]] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(step)])
    local = cum - cum[first][sid]  # arc length along each stroke
    total = local[first + counts - 1]
    if piece_length is not None:
        n_pieces = np.maximum(np.round(total / piece_length), 1).astype(np.int64)
    else:
        n_pieces = np.full(len(counts), per_stroke, dtype=np.int64)
    n_pieces[total <= 0] = 1
    # Boundary arc lengths, strictly inside each stroke.
    b_sid = np.repeat(np.arange(len(counts)), n_pieces - 1)
    b_j = np.arange(len(b_sid)) - np.repeat(np.cumsum(n_pieces - 1) - (n_pieces - 1), n_pieces - 1) + 1
    b_len = total[b_sid] * b_j / n_pieces[b_sid]
    # Global sort key: stroke first, then arc length; originals before boundaries at equal length.
    key_orig = np.stack([sid, local, np.zeros_like(local)], axis=1)
    key_new = np.stack([b_sid, b_len, np.ones_like(b_len)], axis=1)
    keys = np.concatenate([key_orig, key_new])
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
    is_new = order >= len(pts)
    # For boundary points: the original segment they fall on, and the fraction along it.
    n_sid = keys[order, 0].astype(np.int64)
    n_len = keys[order, 1]
    orig_pos = np.where(~is_new, order, 0)
    last_orig = np.maximum.accumulate(np.where(~is_new, np.arange(len(order)), 0))
    src = np.where(is_new, orig_pos[last_orig], order)
    nxt = np.minimum(src + 1, len(pts) - 1)
    seg = np.where(is_new, step[np.minimum(src, len(step) - 1)] if len(step) else 0.0, 0.0)
    t = np.where(is_new & (seg > 0), (n_len - local[src]) / np.where(seg > 0, seg, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    new_pts = pts[src] * (1 - t[:, None]) + pts[nxt] * t[:, None]
    # Unit of the segment starting at each new point: its piece within the stroke, offset per stroke.
    piece_len = np.where(total > 0, total / n_pieces, 1.0)
    nxt_len = np.append(n_len[1:], np.inf)
    same = np.append(n_sid[1:] == n_sid[:-1], False)
    mid = np.where(same, (n_len + nxt_len) / 2, n_len)
    piece = np.minimum((mid / piece_len[n_sid]).astype(np.int64), n_pieces[n_sid] - 1)
    offset = np.concatenate([[0], np.cumsum(n_pieces)[:-1]])
    unit = offset[n_sid] + piece
    new_counts = np.bincount(n_sid, minlength=len(counts))
    extra = {}
    if sketch.parts is not None:
        extra["parts"] = np.split(np.concatenate(sketch.parts)[src], np.cumsum(new_counts)[:-1])
    new = Sketch(
        strokes=np.split(new_pts, np.cumsum(new_counts)[:-1]),
        part_names=sketch.part_names,
        label=sketch.label,
        key_id=sketch.key_id,
        source=sketch.source,
        meta=dict(sketch.meta),
        **extra,
    )
    unit_stroke = np.repeat(np.arange(len(counts)), n_pieces)
    return new, src, nxt, t, unit, unit_stroke


def make_units(
    batch: SketchBatch,
    kind: str = "stroke",
    pieces_per_stroke: int | None = 3,
    piece_length: float | None = None,
) -> SketchUnits:
    """Build units of ``kind`` (``stroke`` or ``piece``) for a batch."""
    if kind == STROKE:
        return stroke_units(batch)
    if kind == PIECE:
        return piece_units(batch, pieces_per_stroke, piece_length)
    raise StrokelensError(f"unknown unit kind {kind!r}; expected one of {', '.join(UNIT_KINDS)}")
