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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.io import quickdraw
from strokelens.io.quickdraw import looks_like_spg, read_quickdraw, read_spg, spg_part_names, write_quickdraw
from strokelens.io.strokes3 import read_strokes3, write_strokes3
from strokelens.io.svg import read_svg, svg_text, write_svg
from strokelens.sketch import Sketch

__all__ = [
    "FORMATS",
    "NDJSON",
    "NPZ",
    "SVG",
    "SketchFormat",
    "count_records",
    "format_named_by",
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

_SUPPORTED = ".ndjson, .ndjson.gz, .npz or .svg"


def _read_ndjson(path: Path, limit: int | None) -> Iterator[Sketch]:
    if spg_part_names(path) is not None:  # SPG: its part names lie beside it
        return read_spg(path, limit)
    return read_quickdraw(path, limit)


def _read_svg(path: Path, limit: int | None) -> Iterator[Sketch]:
    return iter(read_svg(path))


def _write_svg(sketches: Iterable[Sketch] | Sketch, path: Path) -> None:
    items = [sketches] if isinstance(sketches, Sketch) else list(sketches)
    if len(items) != 1:
        raise StrokelensError(
            f"{path}: an SVG file holds one drawing, got {len(items)}; write one file a sketch"
        )
    write_svg(items[0], path)


@dataclass(frozen=True)
class SketchFormat:
    """A kind of sketch file: the name endings it has, how it is read and written, and whether its
    records can be read one by one (ndjson: line by line) or only as a whole file."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path, int | None], Iterator[Sketch]]
    write: Callable[[Iterable[Sketch], Path], None]
    #: ``(path, start, limit) -> (index, sketch or error)`` reading records one by one; None: the
    #: file is read whole.
    read_each: Callable[[Path, int, int | None], Iterator[tuple[int, Sketch | StrokelensError]]] | None = None
    #: ``path -> drawings`` without parsing them; None: count what reading gives.
    count: Callable[[Path], int] | None = None

    def __reduce__(self) -> tuple[Callable[[str], SketchFormat], tuple[str]]:  # the one instance
        return format_named, (self.name,)

    def holds(self, path: Path) -> bool:
        """Whether ``path``'s name says it is a file of this format."""
        return path.name.lower().endswith(self.suffixes)


NDJSON = SketchFormat(
    "ndjson",
    (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz"),
    _read_ndjson,
    write_quickdraw,
    quickdraw.read_records,
    quickdraw.count_records,
)
NPZ = SketchFormat("npz", (".npz",), read_strokes3, write_strokes3)
SVG = SketchFormat("svg", (".svg",), _read_svg, _write_svg)
#: Every sketch file format, in the order its name is tried.
FORMATS = (NDJSON, NPZ, SVG)


def format_named(name: str) -> SketchFormat:
    """The format called ``name`` (``ndjson``, ``npz``, ``svg``)."""
    by_name = {fmt.name: fmt for fmt in FORMATS}
    if name not in by_name:
        raise StrokelensError(f"unknown sketch format {name!r}; expected one of {', '.join(by_name)}")
    return by_name[name]


def format_named_by(path: Path) -> SketchFormat:
    """The format ``path``'s name says; `StrokelensError` for a name no format has."""
    for fmt in FORMATS:
        if fmt.holds(path):
            return fmt
    raise StrokelensError(f"{path}: unsupported sketch file type (expected {_SUPPORTED})")


def sketch_format(path: str | os.PathLike[str]) -> tuple[Path, SketchFormat]:
    """The path and its format (`NDJSON`, `NPZ` or `SVG`), chosen by name; `StrokelensError` for a
    missing file, a folder or an unsupported type."""
    path = Path(path)
    if not path.exists():
        raise StrokelensError(f"no such file: {path}")
    if path.is_dir():
        raise StrokelensError(f"{path} is a folder; pass the sketch files inside it")
    return path, format_named_by(path)


def count_records(path: str | os.PathLike[str]) -> int:
    """How many drawings a sketch file holds (ndjson: its non-blank lines, counted unparsed).

    Raises `StrokelensError` for a missing or unsupported file, and for a whole-file format
    (``.npz``, ``.svg``) that cannot be read.
    """
    path, fmt = sketch_format(path)
    if fmt.count is not None:
        return fmt.count(path)
    return sum(1 for _ in fmt.read(path, None))


def read_records(
    path: str | os.PathLike[str], start: int = 0, limit: int | None = None
) -> Iterator[tuple[int, Sketch | StrokelensError]]:
    """Drawings ``start``, ``start + 1``, ... (at most ``limit``) of a sketch file, tolerantly:
    ``(index, sketch)``, or ``(index, error)`` for a record that cannot be read, so that dataset jobs
    record it and go on. ndjson files are read line by line (one bad line costs only itself, earlier
    lines are skipped unparsed); an ``.npz`` or ``.svg`` file is read whole, and if that fails, one
    error stands for it."""
    path, fmt = sketch_format(path)
    if fmt.read_each is not None:
        yield from fmt.read_each(path, start, limit)
        return
    try:
        sketches = list(fmt.read(path, None))
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
    path, fmt = sketch_format(path)
    return fmt.read(path, limit)


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
            sketches = list(reader(path, limit=limit))
        except StrokelensError as exc:
            raise StrokelensError(str(exc).replace(str(path), safe).replace(tmp, "")) from None
    for sketch in sketches:  # nothing of the temporary folder stays: not its path, not its name
        sketch.source = sketch.source and sketch.source.replace(str(path), safe)
        if sketch.label == Path(tmp).name:
            sketch.label = None
    return sketches


def write_sketches(sketches: Iterable[Sketch], path: str | os.PathLike[str]) -> None:
    """Write sketches in the format the file name asks for (see the module table).

    An ``.svg`` file holds exactly one drawing; give one sketch (write more with one `write_svg` call
    each).
    """
    path = Path(path)
    format_named_by(path).write(sketches, path)
