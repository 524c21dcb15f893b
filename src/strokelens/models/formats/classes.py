"""Class names found beside a model file: ``class_names.txt``, ``classes.txt``, ``labels.txt`` (one a
line) or ``class_names.json``, ``classes.json``, ``labels.json`` (a JSON list of names, an object
holding one such list, or an index -> name or name -> index map), in that order of preference."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strokelens.errors import StrokelensError

#: File names looked for in the model's folder, first found wins.
CLASS_FILES = (
    "class_names.txt",
    "classes.txt",
    "labels.txt",
    "class_names.json",
    "classes.json",
    "labels.json",
)
#: Class files larger than this are refused (345 QuickDraw names take 3 KB).
MAX_CLASS_FILE_BYTES = 16 * 1024 * 1024


def class_file_beside(model: Path) -> Path | None:
    """The first of `CLASS_FILES` in ``model``'s folder (``model`` itself when it is a folder)."""
    folder = model if model.is_dir() else model.parent
    for name in CLASS_FILES:
        candidate = folder / name
        if candidate.is_file() and candidate.resolve() != model.resolve():
            return candidate
    return None


def read_class_file(path: Path) -> list[str]:
    """Class names in output order from a text file (one a line) or a JSON file (see the module)."""
    try:
        if path.stat().st_size > MAX_CLASS_FILE_BYTES:
            raise StrokelensError(f"{path}: class file larger than {MAX_CLASS_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StrokelensError(f"cannot read class names {path}: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        try:
            names = names_from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise StrokelensError(f"{path}: not valid JSON ({exc})") from None
        if names is None:
            raise StrokelensError(
                f"{path}: expected a JSON list of class names, an object holding one, or an index map"
            )
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
    if not names or not all(names):
        raise StrokelensError(f"{path}: expected one non-empty class name per entry")
    return names


def names_from_json(value: Any) -> list[str] | None:
    """Class names from parsed JSON: a list of strings; an object with exactly one such list (e.g.
    ``{"classes": [...]}``); ``{"0": "cat", ...}``; or ``{"cat": 0, ...}``. None otherwise."""
    if isinstance(value, list):
        return [str(v) for v in value] if value and all(isinstance(v, str) for v in value) else None
    if not isinstance(value, dict) or not value:
        return None
    lists = [v for v in value.values() if isinstance(v, list) and v and all(isinstance(s, str) for s in v)]
    if len(lists) == 1:
        return list(lists[0])
    strings = all(isinstance(v, str) for v in value.values())
    if strings and all(isinstance(k, str) and k.isdigit() for k in value):
        order = sorted(value, key=int)
        return [value[k] for k in order] if [int(k) for k in order] == list(range(len(order))) else None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        order = sorted(value, key=value.__getitem__)
        return order if [value[k] for k in order] == list(range(len(order))) else None
    return None


def class_names_for(
    model: Path, classes: Sequence[str] | str | os.PathLike[str] | None, own: list[str] | None
) -> tuple[Sequence[str] | None, Path | None]:
    """The class names of the model at ``model`` and the file they come from: ``classes`` (names,
    or a class file), else the model file's ``own`` (its metadata), else a class file beside it."""
    if isinstance(classes, (str, os.PathLike)):
        return read_class_file(Path(classes)), Path(classes)
    if classes is not None:
        return classes, None
    if own is not None:
        return own, None
    beside = class_file_beside(model) if model.exists() else None
    return (read_class_file(beside), beside) if beside is not None else (None, None)
