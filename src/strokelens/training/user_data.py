"""Training data from what a user names: data sets the project knows, files and folders, split for
training, validation and a held-out test.

``--data`` takes any mix of:

- a named data set (`NAMED`): its own train, val and test splits (SPG's by key id, the photos' by file
  name), so its test drawings stay unseen however it is combined;
- a file the model's kind of input reads (sketch files: ``.ndjson[.gz]``, ``.npz``, ``.svg``; photos);
- a folder: every such file under it (sorted; other files are passed over).

Inputs from files are split per class (a drawing's ``label``, where it has one) by a seeded hash of
each drawing's key id (or its file and place when it has none): a drawing at rank ``i`` of its class's
``n`` goes to test when ``i / n < test_share``, to validation when it is below ``test_share +
val_share``, else to training. The split depends only on the seed and the drawings, not on file order.
A drawing of a class the model lacks is an error, as is a folder with nothing to read.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.games import normalise_class_name
from strokelens.kinds import PHOTO_FILES, SKETCH_FILES, InputFiles

Home = str | os.PathLike[str] | None


def _spg(split: str, home: Home) -> list[Any]:
    from strokelens.datasets import load_spg

    return load_spg(split, home=home)


def _photos(split: str, home: Home) -> list[Any]:
    from strokelens.datasets import photo_split
    from strokelens.io.photos import load_photos

    return load_photos(photo_split(split, home))


#: Named data sets: name -> (the kind of files it holds, its split by name).
NAMED: dict[str, tuple[InputFiles, Callable[[str, Home], list[Any]]]] = {
    "quickdraw-spg": (SKETCH_FILES, _spg),
    "imagenet-samples": (PHOTO_FILES, _photos),
}


@dataclass
class DataSplits:
    """Training, validation and held-out inputs, and where they came from."""

    train: list[Any] = field(default_factory=list)
    val: list[Any] = field(default_factory=list)
    test: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    seed: int = 0
    shares: tuple[float, float] = (0.1, 0.2)

    def summary(self) -> dict[str, Any]:
        """Sizes, sources and how the split was made, for a training record."""
        return {
            "data": self.sources,
            "n_train_inputs": len(self.train),
            "n_val_inputs": len(self.val),
            "n_test_inputs": len(self.test),
            "split": {"seed": self.seed, "val_share": self.shares[0], "test_share": self.shares[1]},
        }


def data_files(path: Path, reader: InputFiles) -> list[Path]:
    """``path`` itself (checked by ``reader``), or every file under a folder that ``reader`` reads."""
    if not path.is_dir():
        return [reader.check(path)]
    found = []
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        try:
            found.append(reader.check(p))
        except StrokelensError:
            continue
    if not found:
        raise StrokelensError(f"{path}: no {reader.word} files in this folder")
    return found


def _rank(seed: int, key: str) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def spread(items: Sequence[Any], n: int) -> list[Any]:
    """``n`` items evenly spaced over ``items`` (all of them when there are no more)."""
    if n >= len(items):
        return list(items)
    return [items[int(i * len(items) / n)] for i in range(n)]


def holdout_split(
    inputs: Sequence[Any],
    keys: Sequence[str],
    classes: Sequence[str | None],
    val_share: float,
    test_share: float,
    seed: int,
) -> tuple[list[Any], list[Any], list[Any]]:
    """``inputs`` split into train, val and test per class by the seeded hash of their ``keys`` (see
    the module docstring)."""
    by_class: dict[str | None, list[int]] = defaultdict(list)
    for i, c in enumerate(classes):
        by_class[c].append(i)
    train, val, test = [], [], []
    for members in by_class.values():
        members = sorted(members, key=lambda i: _rank(seed, keys[i]))
        n = len(members)
        for place, i in enumerate(members):
            where = test if place / n < test_share else val if place / n < test_share + val_share else train
            where.append(inputs[i])
    return train, val, test


def _check_classes(inputs: Sequence[Any], path: Path, known: set[str], model: str) -> None:
    """Refuse drawings labelled with a class the model does not have."""
    labels = {str(label) for s in inputs if (label := getattr(s, "label", None)) is not None}
    lacking = sorted(c for c in labels if normalise_class_name(c) not in known)
    if lacking:
        shown = ", ".join(lacking[:5]) + (" ..." if len(lacking) > 5 else "")
        raise StrokelensError(f"{path}: drawings of classes {model} lacks ({shown})")


def load_training_data(
    entries: Sequence[str],
    reader: InputFiles,
    class_names: Sequence[str],
    model: str = "the model",
    home: Home = None,
    val_share: float = 0.1,
    test_share: float = 0.2,
    seed: int = 0,
) -> DataSplits:
    """The inputs ``entries`` name (see the module docstring), split; ``reader`` is the model's kind
    of files and ``class_names`` its classes."""
    if not entries:
        raise StrokelensError("no training data: give --data NAME, FILE or FOLDER")
    if not (0 <= test_share < 1 and 0 < val_share < 1 and val_share + test_share < 1):
        raise StrokelensError(
            f"shares of validation {val_share} and test {test_share} must be in [0, 1) with room to train"
        )
    out = DataSplits(seed=seed, shares=(val_share, test_share))
    known = {normalise_class_name(str(c)) for c in class_names}
    pooled: list[Any] = []
    keys: list[str] = []
    classes: list[str | None] = []
    for entry in entries:
        if entry in NAMED:
            files, load = NAMED[entry]
            if files is not reader:
                raise StrokelensError(f"--data {entry} holds {files.words}; {model} takes {reader.words}")
            out.train += load("train", home)
            out.val += load("val", home)
            out.test += load("test", home)
            out.sources.append(entry)
            continue
        path = Path(entry)
        if not path.exists():
            raise StrokelensError(
                f"--data {entry}: no such data set, file or folder (data sets: {', '.join(sorted(NAMED))})"
            )
        for file in data_files(path, reader):
            items = reader.read([file])
            _check_classes(items, file, known, model)
            for place, item in enumerate(items):
                pooled.append(item)
                keys.append(getattr(item, "key_id", None) or f"{file.name}:{place}")
                label = getattr(item, "label", None)
                classes.append(None if label is None else normalise_class_name(str(label)))
            out.sources.append(str(file))
    if pooled:
        train, val, test = holdout_split(pooled, keys, classes, val_share, test_share, seed)
        out.train += train
        out.val += val
        out.test += test
    if not out.train or not out.val:
        raise StrokelensError(
            f"too few {reader.words} to train: {len(out.train)} for training, {len(out.val)} for validation"
        )
    return out
