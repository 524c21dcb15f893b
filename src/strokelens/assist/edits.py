"""Edits of a drawing: strokes removed, strokes moved (some or all of their points), strokes added.

An `Edit` is stated against the drawing as sent (the request's coordinates); `Edit.apply` gives the
edited drawing (kept strokes in order, moved ones in place, added ones last) and `Edit.ink_kept` the
share of the drawer's ink (arc length) left unchanged. Edits combine (`combine`) into one of at most
`MAX_CHANGES` changes, where a change is one stroke removed, one move, or one stroke added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from strokelens.sketch import Sketch

#: The most changes one suggestion makes.
MAX_CHANGES = 3


def _length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum()) if len(points) > 1 else 0.0


@dataclass(frozen=True, eq=False)
class Move:
    """One stroke's new points, how much of its old ink (arc length) changed, and where the moved part
    went (``start`` -> ``end``: the mean of the moved points before and after, for an arrow)."""

    points: np.ndarray
    changed_ink: float
    start: np.ndarray
    end: np.ndarray


@dataclass(frozen=True, eq=False)
class Edit:
    """Strokes ``removed`` (indices), ``moved`` (index -> `Move`), ``added`` (new strokes), made by
    ``kinds`` (one kind a change: ``remove``, ``move``, ``add``, ``ghost``)."""

    kinds: tuple[str, ...]
    removed: frozenset[int] = frozenset()
    moved: Mapping[int, Move] = field(default_factory=dict)
    added: tuple[np.ndarray, ...] = ()

    @property
    def kind(self) -> str:
        """The kinds of its changes, in a fixed order, joined by ``+`` (``remove+add``)."""
        order = ("remove", "move", "add", "ghost")
        return "+".join(k for k in order if k in self.kinds)

    @property
    def changes(self) -> int:
        return len(self.kinds)

    @property
    def touched(self) -> int:
        """Strokes removed, moved or added."""
        return len(self.removed) + len(self.moved) + len(self.added)

    def key(self) -> tuple:
        """What makes two edits the same edit (for de-duplication)."""
        moved = tuple(sorted((k, m.points.round(2).tobytes()) for k, m in self.moved.items()))
        return (tuple(sorted(self.removed)), moved, tuple(a.round(2).tobytes() for a in self.added))

    def apply(self, sketch: Sketch) -> Sketch:
        """The edited drawing: kept strokes in order (moved ones in place), then the added ones."""
        kept = [
            self.moved[k].points if k in self.moved else s
            for k, s in enumerate(sketch.strokes)
            if k not in self.removed
        ]
        return Sketch(strokes=[*kept, *self.added], label=sketch.label, key_id=sketch.key_id, source="assist")

    def ink_kept(self, lengths: np.ndarray) -> float:
        """The share of the drawer's ink (``lengths``: each stroke's arc length, `Sketch.stroke_lengths`)
        this edit leaves unchanged (0-1)."""
        total = float(lengths.sum())
        if total <= 0:
            return 1.0
        changed = sum(float(lengths[k]) for k in self.removed)
        changed += sum(min(m.changed_ink, float(lengths[k])) for k, m in self.moved.items())
        return max(0.0, 1.0 - changed / total)

    def added_ink(self, lengths: np.ndarray) -> float:
        """The added strokes' ink as a share of the drawer's."""
        total = float(lengths.sum())
        return sum(_length(a) for a in self.added) / total if total > 0 else 0.0

    def size(self, lengths: np.ndarray) -> float:
        """How big the edit is: the share of the drawer's ink changed plus the share added."""
        return (1.0 - self.ink_kept(lengths)) + self.added_ink(lengths)


def removal(strokes: list[int] | tuple[int, ...]) -> Edit:
    """Remove ``strokes`` (one change each)."""
    return Edit(kinds=("remove",) * len(strokes), removed=frozenset(int(k) for k in strokes))


def translation(sketch: Sketch, stroke: int, offset: np.ndarray) -> Edit:
    """Move one whole stroke by ``offset`` (every point: its whole ink changes)."""
    old = sketch.strokes[stroke]
    centre = old.mean(axis=0)
    move = Move(old + offset, _length(old), centre, centre + offset)
    return Edit(kinds=("move",), moved={stroke: move})


def addition(points: np.ndarray) -> Edit:
    """Add one stroke."""
    return Edit(kinds=("add",), added=(np.asarray(points, dtype=np.float64),))


def combine(*edits: Edit) -> Edit | None:
    """One edit making all of ``edits``' changes, or None where they clash (a stroke both removed and
    moved, or moved twice) or make more than `MAX_CHANGES` changes."""
    kinds = tuple(k for e in edits for k in e.kinds)
    if len(kinds) > MAX_CHANGES:
        return None
    removed: set[int] = set()
    moved: dict[int, Move] = {}
    for e in edits:
        removed |= e.removed
        for k, m in e.moved.items():
            if k in moved:
                return None
            moved[k] = m
    if removed & set(moved):
        return None
    added = tuple(a for e in edits for a in e.added)
    return Edit(kinds=kinds, removed=frozenset(removed), moved=moved, added=added)


def keeps_a_stroke(edit: Edit, sketch: Sketch) -> bool:
    """Whether the edited drawing still has a stroke of the drawer's or an added one."""
    return len(edit.removed) < sketch.n_strokes or bool(edit.added)


def relabel(edit: Edit, kind: str) -> Edit:
    """The same edit counted as one change of ``kind`` (the ghost: every stroke moved at once)."""
    return replace(edit, kinds=(kind,))
