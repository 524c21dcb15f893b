"""The drawings a sketch explainer of DoodleNet trains on, and the ones it must never see.

DoodleNet is asked about all 345 QuickDraw classes, so its explainer trains on every source of real
drawings the data folder has for them:

- ``quickdraw-extra``: 21,486 simplified drawings over all 345 classes (``simplified/``), none of them
  in quickdraw-345x25;
- quickdraw-345x25's ``train`` split (`qd345_split`): per class, the drawings that are not SPG sketches
  (those belong to SPG's own splits) ordered by `strokelens.datasets.split_rank_key` and cut at
  `strokelens.datasets.QD345_SPG_SPLITS` (35% train, 15% val, 50% test), the same cut as
  `strokelens.datasets.load_qd345_spg` on the 20 SPG classes, extended to all 344;
- SPG's ``train`` split.

Held out (`heldout_keys`): SPG's ``val`` and ``test`` splits and quickdraw-345x25's ``val`` and
``test`` splits. `explainer_sources` drops every training drawing whose key id or content
(`drawing_key`) is a held-out drawing's, so a drawing that reached two
sources cannot leak. ``per_class`` caps spread a source evenly over its classes.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from strokelens.datasets import (
    QD345_SPG_SPLITS,
    load_qd345,
    load_spg,
    qd345_classes,
    spg_classes,
    spg_file,
    split_rank_key,
)
from strokelens.errors import StrokelensError
from strokelens.home import home_path
from strokelens.io.quickdraw import read_quickdraw, read_spg

Home = str | os.PathLike[str] | None
EXTRA_DIR = "data/quickdraw-extra/simplified"
#: The training sources, in the order `explainer_sources` gives them.
SOURCES = ("quickdraw-extra", "qd345-train", "spg-train")


def drawing_key(sketch: Any) -> str:
    """A key of a drawing's content (its strokes' coordinates, in order): the label cache's index."""
    import hashlib

    h = hashlib.sha1()
    for stroke in sketch.strokes:
        arr = np.ascontiguousarray(np.asarray(stroke, dtype=np.float32)[:, :2])
        h.update(arr.round(2).tobytes())
        h.update(b"|")
    return h.hexdigest()


def _spg_keys(home: Home) -> set[str]:
    keys: set[str] = set()
    for name in spg_classes(home):
        keys |= {s.key_id for s in read_spg(spg_file(name, home)) if s.key_id}
    return keys


def qd345_split(split: str, classes: Sequence[str] | None = None, home: Home = None) -> list[Any]:
    """quickdraw-345x25's drawings of one split (``train``/``val``/``test``) over all its classes,
    SPG's own sketches left out (see the module docstring); ``meta["split"]`` names the split."""
    if split not in QD345_SPG_SPLITS:
        raise StrokelensError(f"unknown quickdraw-345x25 split {split!r}; expected train, val or test")
    lo, hi = QD345_SPG_SPLITS[split]
    spg = _spg_keys(home)
    out: list[Any] = []
    for name in classes or qd345_classes(home):
        sketches = [s for s in load_qd345([name], home=home) if s.key_id not in spg]
        sketches.sort(key=lambda s: split_rank_key(s.key_id or ""))
        for i, s in enumerate(sketches):
            if lo <= i / len(sketches) < hi:
                s.meta["split"] = split
                out.append(s)
    return out


def quickdraw_extra(home: Home = None, classes: Sequence[str] | None = None) -> list[Any]:
    """quickdraw-extra's simplified drawings, class by class (sorted file names; ``classes``: only
    these, each of which must have a file)."""
    folder = home_path(EXTRA_DIR, home)
    if classes is None:
        paths = sorted(folder.glob("*.ndjson"))
    else:
        paths = [folder / f"{name}.ndjson" for name in sorted(classes)]
        missing = [p.stem for p in paths if not p.is_file()]
        if missing:
            raise StrokelensError(f"{folder} has no drawings of {missing}")
    out: list[Any] = []
    for path in paths:
        out.extend(read_quickdraw(path))
    return out


def heldout_sets(home: Home = None) -> dict[str, list[Any]]:
    """The drawings an explainer's benchmark measures on: never to be trained on."""
    return {
        "spg-val": load_spg("val", home=home),
        "spg-test": load_spg("test", home=home),
        "qd345-val": qd345_split("val", home=home),
        "qd345-test": qd345_split("test", home=home),
    }


def heldout_keys(home: Home = None) -> tuple[set[str], set[str]]:
    """Key ids and content keys of every held-out drawing (`heldout_sets`)."""
    ids: set[str] = set()
    contents: set[str] = set()
    for sketches in heldout_sets(home).values():
        for s in sketches:
            if s.key_id:
                ids.add(s.key_id)
            contents.add(drawing_key(s))
    return ids, contents


def spread_per_class(sketches: Sequence[Any], per_class: int | None) -> list[Any]:
    """At most ``per_class`` drawings of each class, evenly spaced over the class's drawings in order."""
    if per_class is None:
        return list(sketches)
    by_class: dict[str | None, list[Any]] = defaultdict(list)
    for s in sketches:
        by_class[s.label].append(s)
    out: list[Any] = []
    for members in by_class.values():
        n = len(members)
        take = min(n, per_class)
        out.extend(members[int(i * n / take)] for i in range(take))
    return out


def unseen(sketches: Sequence[Any], heldout: tuple[set[str], set[str]]) -> list[Any]:
    """``sketches`` less every held-out drawing (``heldout``: `heldout_keys`), by key id and content."""
    ids, contents = heldout
    return [s for s in sketches if (not s.key_id or s.key_id not in ids) and drawing_key(s) not in contents]


def unseen_extra(classes: Sequence[str], per_class: int | None, home: Home = None) -> list[Any]:
    """quickdraw-extra's drawings of ``classes`` that no benchmark measures on (`unseen`, as in
    `explainer_sources`), at most ``per_class`` a class."""
    return spread_per_class(unseen(quickdraw_extra(home, classes), heldout_keys(home)), per_class)


def explainer_sources(
    home: Home = None, per_class: dict[str, int | None] | None = None
) -> dict[str, list[Any]]:
    """Training drawings by source (`SOURCES`), at most ``per_class[source]`` a class each (None:
    all), with every held-out drawing removed (by key id and by content)."""
    caps = {name: None for name in SOURCES} | dict(per_class or {})
    unknown = set(caps) - set(SOURCES)
    if unknown:
        raise StrokelensError(f"unknown explainer data sources {sorted(unknown)}; expected {SOURCES}")
    heldout = heldout_keys(home)
    loaders = {
        "quickdraw-extra": lambda: quickdraw_extra(home),
        "qd345-train": lambda: qd345_split("train", home=home),
        "spg-train": lambda: load_spg("train", home=home),
    }
    out: dict[str, list[Any]] = {}
    for name in SOURCES:
        kept = unseen(loaders[name](), heldout)
        for s in kept:
            s.meta["source"] = name
        out[name] = spread_per_class(kept, caps[name])
    return out
