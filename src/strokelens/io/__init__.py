"""Readers and writers for sketch files. `read_sketches` / `write_sketches` pick the format by file name.

| suffix | read | write |
|---|---|---|
| ``.ndjson``, ``.ndjson.gz``, ``.jsonl`` | QuickDraw raw/simplified, SPG with parts | `write_quickdraw` |
| ``.npz`` | sketch-rnn stroke-3, never unpickled | `write_strokes3` |
| ``.svg`` | one drawing, TU-Berlin style | `write_svg`: exactly one sketch a file |
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.io import quickdraw
from strokelens.io.quickdraw import looks_like_spg, read_quickdraw, read_spg, spg_part_names, write_quickdraw
from strokelens.io.strokes3 import read_strokes3, write_strokes3
from strokelens.io.svg import read_svg, svg_text, write_svg
from strokelens.sketch import Sketch

__all__ = [
    "count_records",
    "read_quickdraw",
    "read_records",
    "read_sketches",
    "read_spg",
    "read_strokes3",
    "read_svg",
    "read_uploaded",
    "sketch_format",
    "svg_text",
    "write_quickdraw",
    "write_sketches",
    "write_strokes3",
    "write_svg",
]

_NDJSON = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_SUPPORTED = ".ndjson, .ndjson.gz, .npz or .svg"


def sketch_format(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """The path and its format (``ndjson``, ``npz`` or ``svg``), chosen by name; `StrokelensError`
    for a missing file, a folder or an unsupported type."""
    path = Path(path)
    if not path.exists():
        raise StrokelensError(f"no such file: {path}")
    if path.is_dir():
        raise StrokelensError(f"{path} is a folder; pass the sketch files inside it")
    name = path.name.lower()
    for suffixes, kind in ((_NDJSON, "ndjson"), ((".npz",), "npz"), ((".svg",), "svg")):
        if name.endswith(suffixes):
            return path, kind
    raise StrokelensError(f"{path}: unsupported sketch file type (expected {_SUPPORTED})")


def count_records(path: str | os.PathLike[str]) -> int:
    """How many drawings a sketch file holds (ndjson: its non-blank lines, counted unparsed).

    Raises `StrokelensError` for a missing or unsupported file, and for a whole-file format
    (``.npz``, ``.svg``) that cannot be read.
    """
    path, kind = sketch_format(path)
    if kind == "ndjson":
        return quickdraw.count_records(path)
    return sum(1 for _ in read_sketches(path))


def read_records(
    path: str | os.PathLike[str], start: int = 0, limit: int | None = None
) -> Iterator[tuple[int, Sketch | StrokelensError]]:
    """Drawings ``start``, ``start + 1``, ... (at most ``limit``) of a sketch file, tolerantly:
    ``(index, sketch)``, or ``(index, error)`` for a record that cannot be read, so that dataset jobs
    record it and go on. ndjson files are read line by line (one bad line costs only itself, earlier
    lines are skipped unparsed); an ``.npz`` or ``.svg`` file is read whole, and if that fails, one
    error stands for it."""
    path, kind = sketch_format(path)
    if kind == "ndjson":
        yield from quickdraw.read_records(path, start, limit)
        return
    try:
        sketches = list(read_sketches(path))
    except StrokelensError as exc:
        yield start, exc
        return
    stop = len(sketches) if limit is None else min(len(sketches), start + limit)
    for index in range(start, stop):
        yield index, sketches[index]


def read_sketches(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[Sketch]:
    """Read any supported sketch file, choosing the reader by name; at most ``limit`` drawings.

    ``*.ndjson[.gz]``: QuickDraw (raw or simplified), or SPG when ``parts/<class>.txt`` lies beside it
    (an SPG file without it is refused, not read as raw QuickDraw). ``*.npz``: sketch-rnn stroke-3.
    ``*.svg``: one drawing. Size caps are module constants, checked before the work they bound:
    ``quickdraw.MAX_LINE_CHARS``, ``strokes3.MAX_MEMBER_BYTES``, ``svg.MAX_SVG_BYTES``; each error
    names the one it hit.
    """
    path, kind = sketch_format(path)
    if kind == "ndjson":
        if spg_part_names(path) is not None:
            return read_spg(path, limit)
        return read_quickdraw(path, limit)
    if kind == "npz":
        return read_strokes3(path, limit)
    return iter(read_svg(path))


def read_uploaded(data: bytes, filename: str, limit: int | None = None) -> list[Sketch]:
    """The drawings of a file sent as bytes (an upload) named ``filename``, read as `read_sketches`
    reads a file of that name; an SPG file (sniffed by `quickdraw.looks_like_spg`, its ``parts/``
    names cannot travel with it) by `read_spg`, part labels unnamed. Errors name the file as sent;
    a name with a folder in it, or a hidden one, is refused."""
    safe = Path(filename).name
    if not safe or safe != filename.strip() or safe.startswith("."):
        raise StrokelensError(f"bad file name {filename!r}")
    with tempfile.TemporaryDirectory(prefix="strokelens-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        reader = read_spg if looks_like_spg(path) else read_sketches
        try:
            return list(reader(path, limit=limit))
        except StrokelensError as exc:
            raise StrokelensError(str(exc).replace(str(path), safe).replace(tmp, "")) from None


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
