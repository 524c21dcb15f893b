"""Readers and writers for sketch files. `read_sketches` picks the reader from the file name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.io.quickdraw import read_quickdraw, read_spg, spg_part_names, write_quickdraw
from strokelens.sketch import Sketch

__all__ = ["read_quickdraw", "read_sketches", "read_spg", "write_quickdraw"]


def read_sketches(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[Sketch]:
    """Read any supported sketch file, choosing the reader by name.

    ``*.ndjson[.gz]``: QuickDraw (raw or simplified), or SPG when ``parts/<class>.txt`` lies beside it.
    """
    path = Path(path)
    if not path.exists():
        raise StrokelensError(f"no such file: {path}")
    if path.is_dir():
        raise StrokelensError(f"{path} is a folder; pass the sketch files inside it")
    name = path.name.lower()
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        if spg_part_names(path) is not None:
            return read_spg(path, limit)
        return read_quickdraw(path, limit)
    raise StrokelensError(
        f"{path}: unsupported sketch file type (expected .ndjson, .ndjson.gz, .npz or .svg)"
    )
