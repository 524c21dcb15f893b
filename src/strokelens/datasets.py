"""The real datasets strokelens benchmarks on, with fixed splits, iterated in padded batches.

``quickdraw-spg``: 20 QuickDraw classes with part labels. Split per class by a hash of ``key_id``:
the 600 sketches with the smallest hashes are ``train``, the next 100 ``val``, the rest ``test``
(100, or fewer in a class with fewer than 800 sketches). The split depends only on the key ids, so
it is stable across machines, file orders and Python versions.

``quickdraw-345x25``: 25 simplified sketches for each of 344 QuickDraw classes (``zigzag`` is
missing); class names keep QuickDraw's spelling with spaces (``The Eiffel Tower``). Its drawings of
the 20 SPG classes (500; the SPG and QuickDraw class names are spelt alike) include 275 that *are* SPG
sketches (the same key id: 206 of them in SPG's train split), so `load_qd345_spg` keeps only the 225
drawn outside SPG and splits them per class by the same key-id hash: in hash order, the first 35% of a
class are ``train``, the next 15% ``val``, the rest ``test`` (`QD345_SPG_SPLITS`; 88 / 30 / 107
drawings). A model trained on SPG is tested on these as drawings from outside SPG's selection.

The shipped sample (`load_sample`, no data folder needed): the first `SAMPLE_PER_CLASS` test sketches
of each SPG class (in split order), the SPG files' own lines and part names, in ``samples/quickdraw-spg``
inside the package (QuickDraw CC BY 4.0, SPG MIT: see its ``ATTRIBUTION.md``). `write_sample` remakes it
from a data folder (``scripts/make_sample.py``).

``imagenet-samples``: 1,000 photos, one per ImageNet class. `photo_split` splits them by a hash of
the file name: 70% ``train``, 10% ``val``, 20% ``test`` (never trained on).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from strokelens.errors import StrokelensError
from strokelens.home import home_path
from strokelens.io.quickdraw import read_quickdraw, read_spg, spg_class_name, spg_parts_file
from strokelens.sketch import Sketch, SketchBatch

SPG_DIR = "data/quickdraw-spg"
QD345_DIR = "data/quickdraw-345x25"
SPG_SPLITS = {"train": (0, 600), "val": (600, 700), "test": (700, 800)}
#: Per-class split of quickdraw-345x25's drawings of the SPG classes outside SPG: a drawing at rank
#: ``i`` of ``n`` (by `split_rank_key`) goes to the split whose ``[lo, hi)`` holds ``i / n``.
QD345_SPG_SPLITS = {"train": (0.0, 0.35), "val": (0.35, 0.5), "test": (0.5, 1.0)}
#: The sample of SPG test sketches that ships with strokelens, laid out like ``HOME/data/quickdraw-spg``.
SAMPLE_DIR = Path(__file__).parent / "samples" / "quickdraw-spg"
SAMPLE_PER_CLASS = 4
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


def load_sample(classes: Sequence[str] | None = None, per_class: int | None = None) -> list[Sketch]:
    """The shipped sample of real drawings: the first `SAMPLE_PER_CLASS` SPG test sketches of each class
    (``classes``, default all 20, sorted), in split order as `load_spg` gives them, with part labels.

    ``per_class`` keeps the first that many of each class. Needs no data folder.
    """
    shipped = sorted(spg_class_name(p) for p in SAMPLE_DIR.glob("*.ndjson.gz"))
    out: list[Sketch] = []
    for name in classes or shipped:
        if name.replace("_", " ") not in shipped:
            raise StrokelensError(f"the shipped sample has no class {name!r}; it has {', '.join(shipped)}")
        path = SAMPLE_DIR / f"{name.replace(' ', '_')}.ndjson.gz"
        sketches = sorted(read_spg(path), key=lambda s: split_rank_key(s.key_id or ""))
        for s in sketches:
            s.meta["split"] = "test"
        out.extend(sketches[:per_class] if per_class is not None else sketches)
    return out


def copy_sample(out: str | os.PathLike[str]) -> list[Path]:
    """Copy the shipped sample (its drawing files, ``parts/`` and ``ATTRIBUTION.md``) into ``out``, so
    that commands can read it as files; returns the drawing files written."""
    import shutil

    target = Path(out)
    if target.exists() and not target.is_dir():
        raise StrokelensError(f"{target} exists and is not a folder")
    shutil.copytree(SAMPLE_DIR, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return sorted(target / p.name for p in SAMPLE_DIR.glob("*.ndjson.gz"))


def write_sample(
    out: str | os.PathLike[str] = SAMPLE_DIR,
    per_class: int = SAMPLE_PER_CLASS,
    home: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write the sample `load_sample` reads into ``out`` from the data folder's SPG release: for each
    class, the file's own lines of its first ``per_class`` test sketches (file order, gzip with no
    time stamp, so the bytes repeat) and ``parts/<class>.txt`` as it is. Returns the files written."""
    out = Path(out)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in spg_classes(home):
        source = spg_file(name, home)
        keep = {s.key_id for s in load_spg("test", [name], per_class=per_class, home=home)}
        with gzip.open(source, "rt", encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip() and str(json.loads(line).get("key_id")) in keep]
        target = out / source.name
        with open(target, "wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as gz:
            gz.write("".join(lines).encode("utf-8"))
        parts = spg_parts_file(target)
        parts.write_bytes(spg_parts_file(source).read_bytes())
        written += [target, parts]
    return written


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


def load_qd345_spg(
    split: str = "test",
    classes: Sequence[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> list[Sketch]:
    """quickdraw-345x25's drawings of SPG classes that are not SPG sketches, one split.

    ``split``: ``train``/``val``/``test``/``all``. Drawings whose key id is an SPG sketch's are left out
    (they are in SPG's own splits, mostly its train split). Per class (sorted; default: all 20 SPG
    classes) the rest are ordered by `split_rank_key` and cut at the fractions of `QD345_SPG_SPLITS`,
    so the split depends only on the key ids. Each sketch's ``meta["split"]`` names its split.
    """
    if split not in (*QD345_SPG_SPLITS, "all"):
        raise StrokelensError(f"unknown quickdraw-345x25 split {split!r}; expected train, val, test or all")
    names = sorted(classes) if classes is not None else spg_classes(home)
    available = set(qd345_classes(home))
    missing = [name for name in names if name not in available]
    if missing:
        raise StrokelensError(f"quickdraw-345x25 has no drawings of {missing}")
    out: list[Sketch] = []
    for name in names:
        spg_ids = (
            {s.key_id for s in read_spg(spg_file(name, home))} if spg_file(name, home).exists() else set()
        )
        sketches = [s for s in load_qd345([name], home=home) if s.key_id not in spg_ids]
        sketches.sort(key=lambda s: split_rank_key(s.key_id or ""))
        if split != "all":
            lo, hi = QD345_SPG_SPLITS[split]
            sketches = [s for i, s in enumerate(sketches) if lo <= i / len(sketches) < hi]
        for s in sketches:
            s.meta["split"] = split
        out.extend(sketches)
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
