"""Readers and writers for sketch files. `read_sketches` / `write_sketches` pick the format by file name.

| suffix | read | write |
|---|---|---|
| ``.ndjson``, ``.ndjson.gz``, ``.jsonl`` | QuickDraw raw/simplified, SPG with parts | `write_quickdraw` |
| ``.npz`` | sketch-rnn stroke-3, never unpickled | `write_strokes3` |
| ``.svg`` | one drawing, TU-Berlin style | `write_svg`: exactly one sketch a file |
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.io.quickdraw import read_quickdraw, read_spg, spg_part_names, write_quickdraw
from strokelens.io.strokes3 import read_strokes3, write_strokes3
from strokelens.io.svg import read_svg, svg_text, write_svg
from strokelens.sketch import Sketch

__all__ = [
    "read_quickdraw",
    "read_sketches",
    "read_spg",
    "read_strokes3",
    "read_svg",
    "svg_text",
    "write_quickdraw",
    "write_sketches",
    "write_strokes3",
    "write_svg",
]

_NDJSON = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_SUPPORTED = ".ndjson, .ndjson.gz, .npz or .svg"


def read_sketches(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[Sketch]:
    """Read any supported sketch file, choosing the reader by name; at most ``limit`` drawings.

    ``*.ndjson[.gz]``: QuickDraw (raw or simplified), or SPG when ``parts/<class>.txt`` lies beside it
    (an SPG file without it is refused, not read as raw QuickDraw). ``*.npz``: sketch-rnn stroke-3.
    ``*.svg``: one drawing. Size caps are module constants, checked before the work they bound:
    ``quickdraw.MAX_LINE_CHARS``, ``strokes3.MAX_MEMBER_BYTES``, ``svg.MAX_SVG_BYTES``; each error
    names the one it hit.
    """
    path = Path(path)
    if not path.exists():
        raise StrokelensError(f"no such file: {path}")
    if path.is_dir():
        raise StrokelensError(f"{path} is a folder; pass the sketch files inside it")
    name = path.name.lower()
    if name.endswith(_NDJSON):
        if spg_part_names(path) is not None:
            return read_spg(path, limit)
        return read_quickdraw(path, limit)
    if name.endswith(".npz"):
        return read_strokes3(path, limit)
    if name.endswith(".svg"):
        return iter(read_svg(path))
    raise StrokelensError(f"{path}: unsupported sketch file type (expected {_SUPPORTED})")


def write_sketches(sketches: Iterable[Sketch], path: str | os.PathLike[str]) -> None:
    """Write sketches in the format the file name asks for (see the module table).

    An ``.svg`` file holds exactly one drawing; give one sketch (write more with one `write_svg` call
    each).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_NDJSON):
        write_quickdraw(sketches, path)
    elif name.endswith(".npz"):
        write_strokes3(sketches, path)
    elif name.endswith(".svg"):
        items = [sketches] if isinstance(sketches, Sketch) else list(sketches)
        if len(items) != 1:
            raise StrokelensError(
                f"{path}: an SVG file holds one drawing, got {len(items)}; write one file a sketch"
            )
        write_svg(items[0], path)
    else:
        raise StrokelensError(f"{path}: unsupported sketch file type (expected {_SUPPORTED})")
