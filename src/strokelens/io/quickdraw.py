"""QuickDraw ndjson (raw with timing, or simplified) and SPG ndjson with per-point part labels.

Raw QuickDraw: ``{"word", "key_id", "drawing": [[xs, ys, ts], ...], ...}`` one JSON object a line.
Simplified: the same with ``[xs, ys]`` strokes in the 0-255 frame.
SPG: ``{"i", "key_id", "drawing": [[xs, ys, part_labels], ...]}``, gzip-compressed, with part names in
``parts/<class>.txt`` beside the file (one name a line, index = line number).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from strokelens.errors import StrokelensError
from strokelens.sketch import MAX_STROKES, Sketch

PathLike = str | os.PathLike[str]


def _open_text(path: Path):
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise StrokelensError(f"cannot open {path}: {exc.strerror or exc}") from exc


def _records(path: Path, limit: int | None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line; raise on an empty file or bad JSON."""
    seen = 0
    with _open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise StrokelensError(f"{path}, line {lineno}: not JSON ({exc.msg})") from None
                if not isinstance(rec, dict) or "drawing" not in rec:
                    raise StrokelensError(f"{path}, line {lineno}: record has no 'drawing' field")
                yield lineno, rec
                seen += 1
                if limit is not None and seen >= limit:
                    return
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise StrokelensError(f"{path}: unreadable ({exc})") from None
    if seen == 0:
        raise StrokelensError(f"{path}: empty file, no drawings")


def _strokes(rec: dict, loc: str, n_channels: int | None) -> list[np.ndarray]:
    """Convert the 'drawing' field to one ``(channels, n)`` array a stroke, checking shapes."""
    drawing = rec["drawing"]
    if not isinstance(drawing, list) or not drawing:
        raise StrokelensError(f"{loc}: drawing has no strokes")
    if len(drawing) > MAX_STROKES:
        raise StrokelensError(f"{loc}: {len(drawing)} strokes exceeds the limit of {MAX_STROKES}")
    out = []
    for k, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) < 2:
            raise StrokelensError(f"{loc}: stroke {k} needs [xs, ys, ...] arrays")
        if n_channels is not None and len(stroke) < n_channels:
            raise StrokelensError(f"{loc}: stroke {k} has {len(stroke)} arrays, expected {n_channels}")
        lengths = {len(a) if isinstance(a, list) else -1 for a in stroke}
        if len(lengths) != 1 or -1 in lengths:
            raise StrokelensError(f"{loc}: stroke {k} has arrays of different lengths {sorted(lengths)}")
        try:
            arr = np.array(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise StrokelensError(f"{loc}: stroke {k} has non-numeric values") from None
        out.append(arr)
    return out


def read_quickdraw(path: PathLike, limit: int | None = None) -> Iterator[Sketch]:
    """Read QuickDraw ndjson, raw (x, y, t) or simplified (x, y). Yields one `Sketch` a line."""
    path = Path(path)
    for lineno, rec in _records(path, limit):
        loc = f"{path}, line {lineno}"
        arrs = _strokes(rec, loc, None)
        has_time = all(len(a) >= 3 for a in arrs)
        sketch = Sketch(
            strokes=[a[:2].T for a in arrs],
            times=[a[2] for a in arrs] if has_time else None,
            label=rec.get("word"),
            key_id=str(rec["key_id"]) if "key_id" in rec else None,
            source=loc,
            meta={k: rec[k] for k in ("countrycode", "timestamp", "recognized") if k in rec},
        )
        yield sketch


def spg_part_names(path: Path) -> list[str] | None:
    """Part names for an SPG class file, from ``parts/<class>.txt`` beside it, if present."""
    stem = path.name.split(".")[0]
    names = path.parent / "parts" / f"{stem}.txt"
    if not names.exists():
        return None
    return [line.strip() for line in names.read_text(encoding="utf-8").splitlines() if line.strip()]


def spg_class_name(path: Path) -> str:
    """QuickDraw class name of an SPG file: ``alarm_clock.ndjson.gz`` -> ``alarm clock``."""
    return path.name.split(".")[0].replace("_", " ")


def read_spg(path: PathLike, limit: int | None = None) -> Iterator[Sketch]:
    """Read an SPG ndjson(.gz) file: raw coordinates with a part label on every point."""
    path = Path(path)
    names = spg_part_names(path)
    label = spg_class_name(path)
    for lineno, rec in _records(path, limit):
        loc = f"{path}, line {lineno}"
        arrs = _strokes(rec, loc, 3)
        parts = [a[2].astype(np.int64) for a in arrs]
        if names is not None:
            top = max(int(p.max()) for p in parts)
            if top >= len(names) or min(int(p.min()) for p in parts) < 0:
                raise StrokelensError(f"{loc}: part label {top} outside the {len(names)} part names")
        yield Sketch(
            strokes=[a[:2].T for a in arrs],
            parts=parts,
            part_names=names,
            label=label,
            key_id=str(rec["key_id"]) if "key_id" in rec else None,
            source=loc,
            meta={"i": rec["i"]} if "i" in rec else {},
        )


def _round(values: np.ndarray) -> list:
    as_int = np.round(values)
    if np.allclose(values, as_int):
        return as_int.astype(np.int64).tolist()
    return np.round(values, 3).tolist()


def write_quickdraw(sketches, path: PathLike) -> None:
    """Write sketches as QuickDraw ndjson; time (raw format) or part labels (SPG) are kept if present."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
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
            if s.label is not None:
                rec["word"] = s.label
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
