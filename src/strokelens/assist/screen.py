"""Screening edits fast: an edited drawing's preparation built from its drawing's, not redone.

A raster view with QuickDraw's recipe (`RasterSketchView` with ``simplify``) normalises a drawing to
its own 0..255 frame, then resamples and simplifies each stroke on its own. An edit keeps most
strokes, so the edited drawing's preparation is, stroke by stroke, the drawing's, re-framed; only
the strokes it moves or adds are simplified afresh (all of a batch's at once). Where the edit leaves
the frame as it was (same corner, same longer side), that is exactly what ``view.prepare`` gives
(`Screened.exact`); where the frame moves, the kept strokes are the drawing's simplified strokes
mapped into the new frame, a close stand-in that the search reads afresh (`read`) before it
offers the edit. Any other view (no simplification) is read as it is: exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from strokelens.assist.edits import Edit
from strokelens.assist.reading import probabilities_of_prepared
from strokelens.sketch import QUICKDRAW_FRAME, Sketch
from strokelens.views import RasterSketchView, View


@dataclass(frozen=True, eq=False)
class Frame:
    """One drawing as sent and as prepared, with each stroke's bounding box (``lows``, ``highs``)."""

    sketch: Sketch
    prepared: Sketch
    lows: np.ndarray
    highs: np.ndarray

    @classmethod
    def of(cls, sketch: Sketch, prepared: Sketch) -> Frame:
        lows = np.array([s.min(axis=0) for s in sketch.strokes])
        highs = np.array([s.max(axis=0) for s in sketch.strokes])
        return cls(sketch, prepared, lows, highs)


def _corner_and_scale(lows: np.ndarray, highs: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame QuickDraw's recipe puts strokes with these boxes in: the corner and the scale (as
    `strokelens.simplify` computes them, so equal frames give equal points)."""
    lo = lows.min(axis=0)
    extent = float((highs.max(axis=0) - lo).max())
    return lo, (QUICKDRAW_FRAME / extent if extent > 0 else 1.0)


def simplifies(view: View) -> bool:
    """Whether ``view`` prepares drawings with QuickDraw's recipe (what screening speeds up)."""
    return isinstance(view, RasterSketchView) and view.simplify


#: Strokes simplified together at most (well inside `Sketch`'s limit on strokes).
CHUNK = 1024
#: Edited drawings read in one forward pass at most.
READ_CHUNK = 256


def _simplified(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Strokes already in the 0..255 frame, resampled and simplified (QuickDraw's recipe), many at
    once: each stroke's result does not depend on the others."""
    out: list[np.ndarray] = []
    for a in range(0, len(strokes), CHUNK):
        out += Sketch(strokes=strokes[a : a + CHUNK]).resampled(1.0).simplified(2.0).strokes
    return out


def prepared_edits(
    frames: Sequence[Frame], jobs: Sequence[tuple[int, Edit]]
) -> tuple[list[Sketch], np.ndarray]:
    """Each job's edited drawing as QuickDraw's recipe prepares it, and whether that is exact (the
    edit kept the drawing's frame) or re-framed (a stand-in)."""
    plans, fresh = [], []
    exact = np.zeros(len(jobs), dtype=bool)
    for j, (i, e) in enumerate(jobs):
        f = frames[i]
        kept = [k for k in range(f.sketch.n_strokes) if k not in e.removed]
        new = [e.moved[k].points for k in kept if k in e.moved] + list(e.added)
        still = [k for k in kept if k not in e.moved]
        lows = np.concatenate([f.lows[still], *(s.min(axis=0)[None] for s in new)])
        highs = np.concatenate([f.highs[still], *(s.max(axis=0)[None] for s in new)])
        lo, scale = _corner_and_scale(lows, highs)
        lo0, scale0 = _corner_and_scale(f.lows, f.highs)
        exact[j] = scale == scale0 and np.array_equal(lo, lo0)
        first = len(fresh)
        fresh += [(s - lo) * scale for s in new]
        plans.append((f, kept, lo, scale, lo0, scale0, first, exact[j]))
    done = _simplified(fresh)
    out = []
    for (f, kept, lo, scale, lo0, scale0, first, same), (_, e) in zip(plans, jobs, strict=True):
        ratio, shift = scale / scale0, (lo0 - lo) * scale
        at, strokes = first, []
        for k in kept:
            if k in e.moved:
                strokes.append(done[at])
                at += 1
            else:
                p = f.prepared.strokes[k]
                strokes.append(p if same else p * ratio + shift)
        strokes += done[at : at + len(e.added)]
        out.append(Sketch(strokes=strokes))
    return out, exact


def screen(
    view: View, frames: Sequence[Frame], jobs: Sequence[tuple[int, Edit]]
) -> tuple[torch.Tensor, np.ndarray]:
    """``((J, C) class probabilities, (J,) exact)``: every job's edited drawing read in one batch,
    through its preparation built by `prepared_edits` on a raster view with QuickDraw's recipe
    (exact where the edit kept the frame), else through ``view.prepare`` (exact)."""
    if not jobs:
        return torch.zeros(0, len(view.class_names), dtype=torch.float64), np.zeros(0, dtype=bool)
    if simplifies(view):
        prepared, exact = prepared_edits(frames, jobs)
    else:
        prepared = view.prepare([e.apply(frames[i].sketch) for i, e in jobs])
        exact = np.ones(len(jobs), dtype=bool)
    parts = [
        probabilities_of_prepared(view, prepared[a : a + READ_CHUNK])
        for a in range(0, len(prepared), READ_CHUNK)
    ]
    return torch.cat(parts), exact
