"""Strokes to lend: for a class, the stroke of each of a few real drawings of that class that the
model credits most for it.

Credit is occlusion read afresh: how much the class's log-probability falls when the stroke is left
out. The drawings come from the data folder where it has the class (the SPG train split, else
``quickdraw-extra``'s simplified drawings), else from the shipped sample (`load_sample`, 20 classes).
Each stroke is kept in its drawing's own frame (centred on the bounding box, longer side 1), with
where it sat in that drawing, so it can be placed in another drawing's frame the same way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from strokelens.assist.reading import read
from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch
from strokelens.views import View

#: Real drawings read a class.
PER_CLASS = 8
#: Extra data: QuickDraw's simplified drawings, one file a class.
EXTRA_DIR = "data/quickdraw-extra/simplified"


@dataclass(frozen=True)
class Donor:
    """A stroke in its drawing's unit frame and its credit (log-probability its class loses without it)."""

    points: np.ndarray
    credit: float


def frame_of(sketch: Sketch) -> tuple[np.ndarray, float]:
    """``(centre, extent)``: the bounding box's centre and longer side (at least a tiny positive)."""
    x0, y0, x1, y1 = sketch.bbox()
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2]), max(x1 - x0, y1 - y0, 1e-9)


def class_drawings(
    name: str, home: str | os.PathLike[str] | None, per_class: int = PER_CLASS
) -> list[Sketch]:
    """Up to ``per_class`` real drawings of class ``name``: the data folder's, else the shipped sample's."""
    from strokelens.datasets import SPG_DIR, load_sample, load_spg
    from strokelens.home import resolve_home
    from strokelens.io.quickdraw import read_quickdraw

    try:
        root = resolve_home(home)
    except StrokelensError:
        root = None
    if root is not None:
        if (root / SPG_DIR / f"{name.replace(' ', '_')}.ndjson.gz").exists():
            return load_spg("train", [name], per_class=per_class, home=root)
        extra = root / EXTRA_DIR / f"{name}.ndjson"
        if extra.exists():
            return list(read_quickdraw(extra, limit=per_class))
    try:
        return load_sample([name], per_class=per_class)
    except StrokelensError:
        return []


class Donors:
    """Per class (by index into ``view.class_names``), the best-credited stroke of each of a few real
    drawings, best first; read once a class, on first use (thread-safe)."""

    def __init__(self, view: View, home: str | os.PathLike[str] | None = None, per_class: int = PER_CLASS):
        self.view = view
        self.home = home
        self.per_class = per_class
        self._cache: dict[int, list[Donor]] = {}
        self._lock = threading.Lock()

    def __call__(self, target: int) -> list[Donor]:
        with self._lock:
            if target not in self._cache:
                self._cache[target] = self._build(target)
            return self._cache[target]

    def cached(self, targets: Iterable[int]) -> dict[int, list[Donor]]:
        """The donors already read for those of ``targets`` read so far."""
        with self._lock:
            return {t: self._cache[t] for t in targets if t in self._cache}

    def seed(self, known: Mapping[int, list[Donor]]) -> None:
        """Take donors read elsewhere (another process serving the same model and data folder)."""
        with self._lock:
            self._cache.update(known)

    def _build(self, target: int) -> list[Donor]:
        drawings = [
            s
            for s in class_drawings(self.view.class_names[target], self.home, self.per_class)
            if s.n_strokes > 1
        ]
        if not drawings:
            return []
        # every drawing, then each drawing without each of its strokes: one batch read afresh
        without = [
            s.subset([j for j in range(s.n_strokes) if j != k]) for s in drawings for k in range(s.n_strokes)
        ]
        logp = torch.log(read(self.view, [*drawings, *without])[:, target].clamp_min(1e-12)).numpy()
        full, rest = logp[: len(drawings)], logp[len(drawings) :]
        donors, at = [], 0
        for i, s in enumerate(drawings):
            credit = full[i] - rest[at : at + s.n_strokes]
            at += s.n_strokes
            k = int(np.argmax(credit))
            centre, extent = frame_of(s)
            donors.append(Donor((s.strokes[k] - centre) / extent, float(credit[k])))
        return sorted(donors, key=lambda d: -d.credit)
