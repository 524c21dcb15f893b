"""The real datasets strokelens benchmarks on, with fixed splits, iterated in padded batches.

``quickdraw-spg``: 20 QuickDraw classes with part labels. Split per class by a hash of ``key_id``:
the 600 sketches with the smallest hashes are ``train``, the next 100 ``val``, the rest ``test``
(100, or fewer in a class with fewer than 800 sketches). The split depends only on the key ids, so
it is stable across machines, file orders and Python versions.

``quickdraw-345x25``: 25 simplified sketches for each of 344 QuickDraw classes (``zigzag`` is
missing); class names keep QuickDraw's spelling with spaces (``The Eiffel Tower``).

``imagenet-samples``: 1,000 photos, one per ImageNet class. `photo_split` splits them by a hash of
the file name: 70% ``train``, 10% ``val``, 20% ``test`` (never trained on).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from strokelens.errors import StrokelensError
from strokelens.home import home_path
from strokelens.io.quickdraw import read_quickdraw, read_spg, spg_class_name
from strokelens.sketch import Sketch, SketchBatch

SPG_DIR = "data/quickdraw-spg"
QD345_DIR = "data/quickdraw-345x25"
SPG_SPLITS = {"train": (0, 600), "val": (600, 700), "test": (700, 800)}
PHOTO_DIR = "data/imagenet-samples"
#: Photo split by the first hex digits of SHA-1 of the file name, as fractions of 1.
PHOTO_SPLITS = {"train": (0.0, 0.7), "val": (0.7, 0.8), "test": (0.8, 1.0)}


def split_rank_key(key_id: str) -> str:
    """The hash that orders a class's sketches for the split (first 16 hex digits of SHA-1)."""
    return hashlib.sha1(key_id.encode("utf-8")).hexdigest()[:16]


def spg_classes(home: str | os.PathLike[str] | None = None) -> list[str]:
    """The SPG class names, sorted (``alarm clock``, ``airplane`` ...)."""
    folder = home_path(SPG_DIR, home)
    return sorted(spg_class_name(p) for p in folder.glob("*.ndjson.gz"))


def spg_file(name: str, home: str | os.PathLike[str] | None = None) -> Path:
    """The SPG file of class ``name`` (spaces or underscores)."""
    return home_path(f"{SPG_DIR}/{name.replace(' ', '_')}.ndjson.gz", home)


def load_spg(
    split: str = "test",
    classes: Sequence[str] | None = None,
    per_class: int | None = None,
    home: str | os.PathLike[str] | None = None,
) -> list[Sketch]:
    """Sketches of one SPG split (``train``/``val``/``test``/``all``), class by class in sorted order.

    ``per_class`` keeps the first that many of each class (in split order).
    """
    if split not in (*SPG_SPLITS, "all"):
        raise StrokelensError(f"unknown SPG split {split!r}; expected train, val, test or all")
    out: list[Sketch] = []
    for name in classes or spg_classes(home):
        sketches = sorted(read_spg(spg_file(name, home)), key=lambda s: split_rank_key(s.key_id or ""))
        if split != "all":
            lo, hi = SPG_SPLITS[split]
            sketches = sketches[lo:hi]
        for s in sketches:
            s.meta["split"] = split
        out.extend(sketches[:per_class] if per_class is not None else sketches)
    return out


def qd345_classes(home: str | os.PathLike[str] | None = None) -> list[str]:
    """The class names of quickdraw-345x25, sorted."""
    return sorted(p.stem for p in home_path(QD345_DIR, home).glob("*.ndjson"))


def load_qd345(
    classes: Sequence[str] | None = None,
    per_class: int | None = None,
    home: str | os.PathLike[str] | None = None,
) -> list[Sketch]:
    """Simplified QuickDraw sketches, 25 per class."""
    out: list[Sketch] = []
    for name in classes or qd345_classes(home):
        out.extend(read_quickdraw(home_path(f"{QD345_DIR}/{name}.ndjson", home), limit=per_class))
    return out


def photo_split(split: str = "test", home: str | os.PathLike[str] | None = None) -> list[Path]:
    """The ImageNet sample photos of one split (``train``/``val``/``test``/``all``), sorted by name."""
    if split not in (*PHOTO_SPLITS, "all"):
        raise StrokelensError(f"unknown photo split {split!r}; expected train, val, test or all")
    paths = sorted(p for p in home_path(PHOTO_DIR, home).iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
    if split == "all":
        return paths
    lo, hi = PHOTO_SPLITS[split]

    def rank(p: Path) -> float:
        return int(hashlib.sha1(p.name.encode("utf-8")).hexdigest()[:8], 16) / 16**8

    return [p for p in paths if lo <= rank(p) < hi]


def batches(
    sketches: Sequence[Sketch], batch_size: int, device: torch.device | str | None = None
) -> Iterator[SketchBatch]:
    """Padded batches of ``batch_size`` sketches, in order."""
    if batch_size < 1:
        raise StrokelensError(f"batch size must be at least 1, got {batch_size}")
    for i in range(0, len(sketches), batch_size):
        yield SketchBatch.from_sketches(sketches[i : i + batch_size], device=device)
