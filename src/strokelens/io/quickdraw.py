"""QuickDraw ndjson (raw with timing, or simplified) and SPG ndjson with per-point part labels.

Raw QuickDraw: ``{"word", "key_id", "drawing": [[xs, ys, ts], ...], ...}`` one JSON object a line.
Simplified: the same with ``[xs, ys]`` strokes in the 0-255 frame.
SPG: ``{"i", "key_id", "drawing": [[xs, ys, part_labels], ...]}``, gzip-compressed, with part names in
``parts/<class>.txt`` beside the file (one name a line, index = line number).

`read_quickdraw` refuses SPG-shaped records (an ``"i"`` key, or third arrays of whole numbers that are
constant along every stroke and go back down from one stroke to the next: part labels, which raw
QuickDraw times never are) rather than take the
part labels for times; this is what happens when an SPG file is copied without its ``parts/`` folder.

Lines longer than `MAX_LINE_CHARS` are refused before they are parsed; to read longer ones, set
``strokelens.io.quickdraw.MAX_LINE_CHARS`` higher.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from strokelens.errors import StrokelensError
from strokelens.sketch import MAX_POINTS, MAX_STROKES, Sketch

PathLike = str | os.PathLike[str]

#: A line longer than this is refused before it is parsed. Measured on the real files: the longest
#: line is 11,020 characters (SPG ambulance, 921 points); records take 12.4 characters a point on
#: average in SPG and 10.7 in the simplified QuickDraw set, at most 16 in a record of a few hundred
#: points. 8 MiB leaves room for a record at the point limit (`strokelens.sketch.MAX_POINTS`,
#: 500,000 points at about 16.8 characters each). To read longer lines, set
#: ``strokelens.io.quickdraw.MAX_LINE_CHARS`` higher.
MAX_LINE_CHARS = 8 * 1024 * 1024


def _open_bytes(path: Path):
    try:
        if path.suffix.lower() == ".gz":
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as exc:
        raise StrokelensError(f"cannot open {path}: {exc.strerror or exc}") from exc


def _lines(path: Path, start: int = 0) -> Iterator[tuple[int, int, str | UnicodeDecodeError | None]]:
    """Yield ``(line_number, index, text)`` for each non-blank line, ``index`` counting them from 0,
    from the ``start``-th on (earlier ones are skipped unparsed). ``text`` is None for a line longer
    than `MAX_LINE_CHARS` (its bytes), which is read past in chunks, never held whole, and the decoding
    error of a line that is not UTF-8 (`_parse` refuses it: one bad line costs only itself). Bytes
    that cannot be read at all (a truncated gzip) end the file with an error."""
    lineno = 0
    index = -1
    with _open_bytes(path) as fh:
        try:
            while True:
                raw = fh.readline(MAX_LINE_CHARS + 2)
                if not raw:
                    return
                lineno += 1
                ended = raw.endswith(b"\n")
                too_long = len(raw.rstrip(b"\r\n")) > MAX_LINE_CHARS or (
                    len(raw) > MAX_LINE_CHARS and not ended
                )
                if too_long:
                    first = lineno
                    while raw and not raw.endswith(b"\n"):
                        raw = fh.readline(MAX_LINE_CHARS + 2)
                elif not raw.strip():
                    continue
                index += 1
                if index < start:
                    continue
                if too_long:
                    yield first, index, None
                    continue
                try:
                    text: str | UnicodeDecodeError = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    text = exc
                yield lineno, index, text
        except (OSError, EOFError, zlib.error) as exc:
            raise StrokelensError(f"{path}, line {lineno + 1}: unreadable ({exc})") from None


def _parse(path: Path, lineno: int, line: str | UnicodeDecodeError | None) -> dict:
    """One line's record, or `StrokelensError` saying what is wrong with it and where."""
    if isinstance(line, UnicodeDecodeError):
        raise StrokelensError(f"{path}, line {lineno}: unreadable ({line})")
    if line is None:
        raise StrokelensError(
            f"{path}, line {lineno}: longer than the line length limit of {MAX_LINE_CHARS} characters "
            "(raise it by setting strokelens.io.quickdraw.MAX_LINE_CHARS)"
        )
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StrokelensError(f"{path}, line {lineno}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise StrokelensError(f"{path}, line {lineno}: JSON nested too deeply") from None
    if not isinstance(rec, dict) or "drawing" not in rec:
        raise StrokelensError(f"{path}, line {lineno}: record has no 'drawing' field")
    if rec.get("word") is not None and not isinstance(rec["word"], str):
        raise StrokelensError(f"{path}, line {lineno}: 'word' must be a string, got {rec['word']!r}")
    key_id = rec.get("key_id")
    if key_id is not None and (isinstance(key_id, bool) or not isinstance(key_id, (str, int))):
        raise StrokelensError(
            f"{path}, line {lineno}: 'key_id' must be a string or an integer, got {key_id!r}"
        )
    return rec


def _records(path: Path, limit: int | None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line; raise on an empty file or bad JSON.

    Lines are read with a length cap (`MAX_LINE_CHARS`), so a huge line is refused before it fills memory.
    """
    seen = 0
    for lineno, _, line in _lines(path):
        yield lineno, _parse(path, lineno, line)
        seen += 1
        if limit is not None and seen >= limit:
            return
    if seen == 0:
        raise StrokelensError(f"{path}: empty file, no drawings")


def count_records(path: PathLike) -> int:
    """How many records (non-blank lines) an ndjson file holds, without parsing them. Where its bytes
    end unreadably (a truncated gzip), the lines read before and one for the error, as `read_records`
    yields them; a file that cannot be read from its first line raises."""
    n = 0
    try:
        for _ in _lines(Path(path)):
            n += 1
    except StrokelensError:
        if n == 0:
            raise
        return n + 1
    return n


def read_records(
    path: PathLike, start: int = 0, limit: int | None = None
) -> Iterator[tuple[int, Sketch | StrokelensError]]:
    """Records ``start``, ``start + 1``, ... (at most ``limit``) of a QuickDraw or SPG file as
    ``(index, sketch)``, or ``(index, error)`` for a record that cannot be read, so that one bad line
    costs only itself. Bytes that cannot be read at all end the file with one error."""
    path = Path(path)
    names = spg_part_names(path)
    make = functools.partial(_spg_sketch, names=names, label=spg_class_name(path)) if names else _qd_sketch
    index = start - 1
    try:
        for lineno, index, line in _lines(path, start):
            if limit is not None and index >= start + limit:
                return
            try:
                yield index, make(_parse(path, lineno, line), f"{path}, line {lineno}", path)
            except StrokelensError as exc:
                yield index, exc
    except StrokelensError as exc:
        yield index + 1, exc


def _strokes(rec: dict, loc: str, n_channels: int | None) -> list[np.ndarray]:
    """Convert the 'drawing' field to one ``(channels, n)`` array a stroke, checking shapes.

    The stroke and point limits are checked on the JSON lists, before any array is built.
    """
    drawing = rec["drawing"]
    if not isinstance(drawing, list) or not drawing:
        raise StrokelensError(f"{loc}: drawing has no strokes")
    if len(drawing) > MAX_STROKES:
        raise StrokelensError(f"{loc}: {len(drawing)} strokes exceeds the limit of {MAX_STROKES}")
    out = []
    total = 0
    for k, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) < 2:
            raise StrokelensError(f"{loc}: stroke {k} needs [xs, ys, ...] arrays")
        if n_channels is not None and len(stroke) < n_channels:
            raise StrokelensError(f"{loc}: stroke {k} has {len(stroke)} arrays, expected {n_channels}")
        lengths = {len(a) if isinstance(a, list) else -1 for a in stroke}
        if len(lengths) != 1 or -1 in lengths:
            raise StrokelensError(f"{loc}: stroke {k} has arrays of different lengths {sorted(lengths)}")
        n = len(stroke[0])
        if n == 0:
            raise StrokelensError(f"{loc}: stroke {k} has no points")
        total += n
        if total > MAX_POINTS:
            raise StrokelensError(f"{loc}: more than the limit of {MAX_POINTS} points")
        try:
            arr = np.array(stroke)
        except (TypeError, ValueError, OverflowError):
            arr = None
        if arr is None or arr.ndim != 2 or arr.dtype.kind not in "iuf":
            raise StrokelensError(f"{loc}: stroke {k} has non-numeric values")
        out.append(arr)
    return out


def _spg_shaped(rec: dict, arrs: list[np.ndarray]) -> str | None:
    """Why a record with a third array per stroke holds SPG part labels rather than times, if it does."""
    if "i" in rec:
        return 'it has SPG\'s "i" key'
    long = [a[2] for a in arrs if a.shape[1] > 1]
    firsts = np.array([a[2][0] for a in arrs])
    # Times never decrease from stroke to stroke; part labels that go back down are not times.
    goes_back = bool(np.any(np.diff(firsts) < 0))
    if long and goes_back and all(np.all(t == t[0]) and float(t[0]).is_integer() for t in long):
        return (
            "its third arrays are whole numbers constant along every stroke and going back down from "
            "stroke to stroke (part labels, not times)"
        )
    return None


def _qd_sketch(rec: dict, loc: str, path: Path) -> Sketch:
    """One QuickDraw record as a `Sketch` (refusing an SPG-shaped one: see `read_quickdraw`)."""
    arrs = _strokes(rec, loc, None)
    has_time = all(len(a) >= 3 for a in arrs)
    if has_time and not all(np.isfinite(a[2]).all() for a in arrs):
        raise StrokelensError(f"{loc}: times must be finite numbers")
    why = _spg_shaped(rec, arrs) if has_time else None
    if why is not None:
        raise StrokelensError(
            f"{loc}: an SPG record ({why}) but the part names are missing: expected "
            f"{spg_parts_file(path)} (put the parts/ folder beside the file, or read it with "
            "strokelens.io.read_spg to keep unnamed part labels)"
        )
    return Sketch(
        strokes=[a[:2].T for a in arrs],
        times=[a[2] for a in arrs] if has_time else None,
        label=rec.get("word"),
        key_id=str(rec["key_id"]) if rec.get("key_id") is not None else None,
        source=loc,
        meta={k: rec[k] for k in ("countrycode", "timestamp", "recognized") if k in rec},
    )


def read_quickdraw(path: PathLike, limit: int | None = None) -> Iterator[Sketch]:
    """Read QuickDraw ndjson, raw (x, y, t) or simplified (x, y). Yields one `Sketch` a line.

    A record shaped like SPG (see the module docstring) raises `StrokelensError` naming the missing
    ``parts/<class>.txt``: its third arrays are part labels, not times.
    """
    path = Path(path)
    for lineno, rec in _records(path, limit):
        yield _qd_sketch(rec, f"{path}, line {lineno}", path)


def looks_like_spg(path: PathLike) -> bool:
    """Whether ``path`` is an ndjson file whose first record has SPG's ``"i"`` key (its third arrays
    are part labels), read from its content alone: an uploaded file has no ``parts/`` beside it.
    False for anything that cannot be read (the reader then says what is wrong)."""
    path = Path(path)
    if not path.name.lower().endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        return False
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            first = json.loads(fh.readline(1 << 20) or "{}")
    except (OSError, ValueError, EOFError):
        return False
    return isinstance(first, dict) and "i" in first


def spg_parts_file(path: Path) -> Path:
    """Where an SPG class file's part names belong: ``parts/<class>.txt`` beside it."""
    return path.parent / "parts" / f"{path.name.split('.')[0]}.txt"


def spg_part_names(path: Path) -> list[str] | None:
    """Part names for an SPG class file, from ``parts/<class>.txt`` beside it, if present."""
    names = spg_parts_file(path)
    if not names.exists():
        return None
    return [line.strip() for line in names.read_text(encoding="utf-8").splitlines() if line.strip()]


def spg_class_name(path: Path) -> str:
    """QuickDraw class name of an SPG file: ``alarm_clock.ndjson.gz`` -> ``alarm clock``."""
    return path.name.split(".")[0].replace("_", " ")


def _spg_sketch(rec: dict, loc: str, path: Path, names: list[str] | None, label: str) -> Sketch:
    """One SPG record as a `Sketch` with its part labels (checked against ``names``)."""
    del path
    arrs = _strokes(rec, loc, 3)
    third = np.concatenate([a[2] for a in arrs]).astype(np.float64)
    whole = np.isfinite(third) & (third >= 0) & (third == np.round(third))
    if not whole.all():
        raise StrokelensError(f"{loc}: part labels must be whole numbers from 0, got {third[~whole][0]}")
    parts = [a[2].astype(np.int64) for a in arrs]
    if names is not None:
        labels = np.concatenate(parts)
        bad = (labels < 0) | (labels >= len(names))
        if bad.any():
            raise StrokelensError(
                f"{loc}: part label {int(labels[bad][0])} outside the {len(names)} part names"
            )
    return Sketch(
        strokes=[a[:2].T for a in arrs],
        parts=parts,
        part_names=names,
        label=rec["word"] if isinstance(rec.get("word"), str) else label,
        key_id=str(rec["key_id"]) if rec.get("key_id") is not None else None,
        source=loc,
        meta={"i": rec["i"]} if "i" in rec else {},
    )


def read_spg(path: PathLike, limit: int | None = None) -> Iterator[Sketch]:
    """Read an SPG ndjson(.gz) file: raw coordinates with a part label on every point.

    The class label is the record's ``word`` when it has one (files written by `write_quickdraw`),
    otherwise the file name (``alarm_clock.ndjson.gz`` -> ``alarm clock``).
    """
    path = Path(path)
    names = spg_part_names(path)
    label = spg_class_name(path)
    for lineno, rec in _records(path, limit):
        yield _spg_sketch(rec, f"{path}, line {lineno}", path, names, label)


def _round(values: np.ndarray) -> list:
    as_int = np.round(values)
    if np.array_equal(values, as_int):
        return as_int.astype(np.int64).tolist()
    return np.round(values, 3).tolist()


def _unnamed_parts(parts) -> list[str]:
    """Names ``part 0`` .. ``part N`` for part labels that came without names."""
    return [f"part {k}" for k in range(int(max(np.max(p) for p in parts)) + 1)]


def write_quickdraw(sketches, path: PathLike) -> None:
    """Write sketches as QuickDraw ndjson; time (raw format) or part labels (SPG) are kept if present.

    Coordinates keep three decimals (whole numbers are written as integers); QuickDraw's ``countrycode``,
    ``timestamp`` and ``recognized`` are kept. When the sketches carry part labels, their part names
    (``part 0`` .. where they have none) are also written to ``parts/<stem>.txt`` beside the file, so
    that `read_spg` (and `strokelens.io.read_sketches`) read the parts back; sketches with other part
    names than the first are refused (one file holds one class's parts).
    """
    path = Path(path)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    part_names: list[str] | None = None
    try:
        with opener(path, "wt", encoding="utf-8") as fh:
            for i, s in enumerate(sketches):
                drawing = []
                for k, stroke in enumerate(s.strokes):
                    entry = [_round(stroke[:, 0]), _round(stroke[:, 1])]
                    if s.parts is not None:
                        entry.append(np.asarray(s.parts[k]).astype(np.int64).tolist())
                    elif s.times is not None:
                        entry.append(_round(np.asarray(s.times[k])))
                    drawing.append(entry)
                rec: dict = {"key_id": s.key_id or str(i), "drawing": drawing}
                if s.parts is not None:
                    rec["i"] = i
                    names = list(s.part_names or _unnamed_parts(s.parts))
                    if part_names is not None and names != part_names:
                        raise StrokelensError(
                            f"{path}: sketch {i} has other part names than the first ({names} against "
                            f"{part_names}); one file holds one class's parts: write one file a class"
                        )
                    part_names = names
                if s.label is not None:
                    rec["word"] = s.label
                rec.update({k: s.meta[k] for k in ("countrycode", "timestamp", "recognized") if k in s.meta})
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
        if part_names:
            folder = path.parent / "parts"
            folder.mkdir(exist_ok=True)
            (folder / f"{path.name.split('.')[0]}.txt").write_text(
                "\n".join(part_names) + "\n", encoding="utf-8"
            )
    except OSError as exc:
        raise StrokelensError(f"cannot write {path}: {exc.strerror or exc}") from None
