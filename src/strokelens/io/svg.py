"""SVG sketches: read TU-Berlin-style files, write any sketch.

Reading. The file is parsed with ``defusedxml``: a document that declares entities (the
"billion laughs" expansion bomb) or refers to an external entity is refused with a `StrokelensError`;
a DOCTYPE naming the public SVG DTD, as TU-Berlin files have, is fine and never fetched. Every
``path`` (and ``polyline``/``polygon``/``line``) outside ``defs``-like containers becomes strokes, in
document order, one stroke per subpath (one per ``path`` in TU-Berlin files). Path commands
``M L H V C S Q T Z`` and their relative forms are supported; arcs (``A``) are replaced by a straight
line to their end point. Nested ``transform`` attributes (``matrix``, ``translate``, ``scale``,
``rotate``, ``skewX``, ``skewY``) are composed and applied, so points come out in the root ``svg``'s user
coordinates (its ``viewBox`` frame, kept in ``meta["viewBox"]``). Curves are flattened to polylines with
at most `FLATNESS` units of deviation, all segments of a file evaluated in one vectorised step.

Limits, checked before the work they bound: a file larger than `MAX_SVG_BYTES` is refused before it is
parsed (set ``strokelens.io.svg.MAX_SVG_BYTES`` to allow larger ones); path data is tokenised lazily
and its points counted on the way, so a drawing past the point limit (`strokelens.sketch.MAX_POINTS`)
or the stroke limit (`strokelens.sketch.MAX_STROKES`) is refused as soon as it gets there, without
reading the rest.

The class label is the root's ``<title>`` when present; for TU-Berlin's ``<class>/<number>.svg`` layout
it is the folder name.

Writing. `svg_text` / `write_svg` draw one sketch in its own coordinates: one ``path`` a stroke, round
caps and joins, optional per-stroke colours. A single-point stroke is written as ``M x y Z``, which
renders as a round dot and reads back as one point. Coordinates keep three decimals.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import defusedxml
import defusedxml.ElementTree as DET
import numpy as np

from strokelens.errors import StrokelensError
from strokelens.sketch import MAX_POINTS, MAX_STROKES, Sketch
from strokelens.viz.colors import Colors, to_hex, to_rgb

PathLike = str | os.PathLike[str]

#: Largest deviation (in output units) between a flattened curve and the true Bezier curve.
FLATNESS = 0.25
#: A curve segment becomes at most this many line pieces.
MAX_PIECES = 64
#: Larger SVG files are refused before they are parsed. The 15 real TU-Berlin files measure 3,022 to
#: 21,250 bytes (152 KB together); `write_svg` writes about 16 bytes a point, so 8 MiB holds a drawing
#: at the point limit (`strokelens.sketch.MAX_POINTS`, 500,000) and is 400 times the largest real
#: file. To read larger files, set ``strokelens.io.svg.MAX_SVG_BYTES`` higher.
MAX_SVG_BYTES = 8 * 1024 * 1024

_SKIP = {"defs", "clipPath", "mask", "symbol", "marker", "pattern", "metadata", "title", "desc", "style"}
_SKIP |= {"script", "linearGradient", "radialGradient", "filter", "foreignObject"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# One path data token with the separators before it (SVG separators are ASCII whitespace and commas).
_TOKEN = re.compile(rf"[\s,]*(?:[MmLlHhVvCcSsQqTtAaZz]|{_NUMBER}|[^\s,])", re.ASCII)
_SEPARATORS = " \t\n\r\f\v,"
_TOKEN_TEXT = re.compile(rf"[\s,]*([MmLlHhVvCcSsQqTtAaZz]|{_NUMBER}|[^\s,])", re.ASCII)  # without separators
#: Path data is tokenised this many characters at a time.
_WINDOW = 1 << 16
_NUM_RE = re.compile(_NUMBER)
_TRANSFORM = re.compile(r"\s*,?\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)\s*")
_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
_ARGS_OF = frozenset("MmLlHhVvCcSsQqTtAaZz")
_RUNS = frozenset("LHVC")  # commands carried out a run at a time
_NEED = np.zeros(256, dtype=np.int64)  # numbers a command takes, by letter code
_IS_RUN = np.zeros(256, dtype=bool)
for _c in _ARGS_OF:
    _NEED[ord(_c)], _IS_RUN[ord(_c)] = _ARGS[_c.upper()], _c.upper() in _RUNS


class _Bad(Exception):
    """Bad path or transform data, reported with the file and element by the caller."""


class _TooMany(_Bad):
    """An element would take the drawing past the point or stroke limit."""

    def __init__(self, limit: int, what: str) -> None:
        super().__init__(f"more than the limit of {limit} {what}")
        self.what = what


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_transform(text: str | None) -> np.ndarray:
    """A ``transform`` attribute as a 3x3 affine matrix (identity for ``None`` or empty)."""
    m = np.eye(3)
    if not text or not text.strip():
        return m
    pos = 0
    while pos < len(text):
        match = _TRANSFORM.match(text, pos)
        if match is None:
            if text[pos:].strip(" ,\t\r\n") == "":
                break
            raise _Bad(f"bad transform {text!r}")
        pos = match.end()
        name, args = match.group(1), [float(v) for v in _NUM_RE.findall(match.group(2))]
        m = m @ _transform_matrix(name, args, text)
    return m


def _transform_matrix(name: str, a: list[float], text: str) -> np.ndarray:
    n = len(a)
    if name == "matrix" and n == 6:
        return np.array([[a[0], a[2], a[4]], [a[1], a[3], a[5]], [0, 0, 1]])
    if name == "translate" and n in (1, 2):
        return np.array([[1, 0, a[0]], [0, 1, a[1] if n == 2 else 0.0], [0, 0, 1]])
    if name == "scale" and n in (1, 2):
        return np.diag([a[0], a[1] if n == 2 else a[0], 1.0])
    if name == "rotate" and n in (1, 3):
        c, s = math.cos(math.radians(a[0])), math.sin(math.radians(a[0]))
        r = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        if n == 3:
            t = np.array([[1, 0, a[1]], [0, 1, a[2]], [0, 0, 1]])
            r = t @ r @ np.array([[1, 0, -a[1]], [0, 1, -a[2]], [0, 0, 1]])
        return r
    if name in ("skewX", "skewY") and n == 1:
        t = math.tan(math.radians(a[0]))
        return (
            np.array([[1, t, 0], [0, 1, 0], [0, 0, 1]])
            if name == "skewX"
            else np.array([[1, 0, 0], [t, 1, 0], [0, 0, 1]])
        )
    raise _Bad(f"bad transform {name}({', '.join(f'{v:g}' for v in a)}) in {text!r}")


class _PathParser:
    """Path data, token by token or a run of one command at a time, into subpaths of cubic segments.

    Points are counted as segments arrive (a subpath's start and one point per segment, the fewest
    its flattening can give) and a `_TooMany` stops the parse at the limit.
    """

    def __init__(self, max_points: int, max_subpaths: int) -> None:
        self.max_points, self.max_subpaths = max_points, max_subpaths
        self.subpaths: list[tuple[np.ndarray, np.ndarray]] = []
        self.segs = array("d")  # the current subpath's segments, 8 numbers each
        self.n_points = 0
        self.sx = self.sy = self.cx = self.cy = 0.0  # subpath start and current point
        self.have_start = False
        self.ctrl: tuple[float, float] | None = None  # the last control point, reflected by S / T
        self.last_cmd = ""
        self.cmd, self.up, self.need, self.rel = "", "", 0, False
        self.pending = False  # a command letter whose numbers have not come yet
        self.args: list[float] = []

    def count(self, n: int) -> None:
        self.n_points += n
        if self.n_points > self.max_points:
            raise _TooMany(self.max_points, "points")

    def close_subpath(self) -> None:
        if self.have_start:
            segs = np.frombuffer(self.segs, dtype=np.float64).reshape(-1, 4, 2)
            self.subpaths.append((np.array([self.sx, self.sy]), segs))

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.args or self.pending:
            raise _Bad(f"command {self.cmd} needs {self.need} numbers")
        self.close_subpath()
        return self.subpaths

    def line(self, x0: float, y0: float, x1: float, y1: float) -> None:
        dx, dy = x1 - x0, y1 - y0
        self.segs.extend(
            (x0, y0, x0 + dx / 3.0, y0 + dy / 3.0, x0 + 2.0 * dx / 3.0, y0 + 2.0 * dy / 3.0, x1, y1)
        )

    def quad(self, qx: float, qy: float, x1: float, y1: float) -> None:
        cx, cy, k = self.cx, self.cy, 2.0 / 3.0
        self.segs.extend(
            (cx, cy, cx + k * (qx - cx), cy + k * (qy - cy), x1 + k * (qx - x1), y1 + k * (qy - y1), x1, y1)
        )

    def feed(self, tok: str) -> None:
        """One token: a command letter, a number, or anything else (refused)."""
        if tok in _ARGS_OF:
            if self.args or self.pending:
                raise _Bad(f"command {self.cmd} needs {self.need} numbers")
            self.cmd, self.up, self.rel = tok, tok.upper(), tok.islower()
            self.need = _ARGS[self.up]
            if self.up != "Z":
                self.pending = True
                return
        elif len(tok) == 1 and tok not in "0123456789":
            raise _Bad(f"unexpected {tok!r} in path data")
        elif not self.cmd:
            raise _Bad("path data must start with a command")
        elif self.up == "Z":
            raise _Bad("numbers after Z")
        else:
            self.args.append(float(tok))
            if len(self.args) < self.need:
                return
        self.pending = False
        a, self.args = self.args, []
        self.segment(a)

    def segment(self, a: list[float]) -> None:
        """Carry out the current command on its numbers ``a``."""
        up, cx, cy = self.up, self.cx, self.cy
        ox, oy = (cx, cy) if self.rel else (0.0, 0.0)
        if up == "M":
            self.close_subpath()
            if len(self.subpaths) >= self.max_subpaths:
                raise _TooMany(self.max_subpaths, "strokes")
            self.count(1)
            self.cx, self.cy = a[0] + ox, a[1] + oy
            self.sx, self.sy, self.segs, self.have_start = self.cx, self.cy, array("d"), True
            self.ctrl, self.last_cmd = None, up
            self.cmd, self.up = ("l" if self.rel else "L"), "L"  # extra pairs after a moveto are linetos
            return
        if not self.have_start:
            raise _Bad("path data must start with a moveto")
        if up == "Z":
            if (cx, cy) != (self.sx, self.sy):  # a closing line, like any segment, gives 1+ points
                self.count(1)
                self.line(cx, cy, self.sx, self.sy)
            self.cx, self.cy = self.sx, self.sy
            self.ctrl, self.last_cmd = None, up
            return
        self.count(1)
        ctrl = self.ctrl
        if up == "L" or up == "A":
            ex, ey = a[-2] + ox, a[-1] + oy
            self.line(cx, cy, ex, ey)
            ctrl = None
        elif up == "H":
            ex, ey = a[0] + ox, cy
            self.line(cx, cy, ex, ey)
            ctrl = None
        elif up == "V":
            ex, ey = cx, a[0] + oy
            self.line(cx, cy, ex, ey)
            ctrl = None
        elif up == "C":
            ex, ey = a[4] + ox, a[5] + oy
            self.segs.extend((cx, cy, a[0] + ox, a[1] + oy, a[2] + ox, a[3] + oy, ex, ey))
            ctrl = (a[2] + ox, a[3] + oy)
        elif up == "S":
            smooth = ctrl is not None and self.last_cmd in "CS"
            c1 = (2 * cx - ctrl[0], 2 * cy - ctrl[1]) if smooth and ctrl else (cx, cy)
            ex, ey = a[2] + ox, a[3] + oy
            self.segs.extend((cx, cy, *c1, a[0] + ox, a[1] + oy, ex, ey))
            ctrl = (a[0] + ox, a[1] + oy)
        elif up == "T":
            ex, ey = a[0] + ox, a[1] + oy
            smooth = ctrl is not None and self.last_cmd in "QT"
            ctrl = (2 * cx - ctrl[0], 2 * cy - ctrl[1]) if smooth and ctrl else (cx, cy)
            self.quad(*ctrl, ex, ey)
        else:  # Q
            ex, ey = a[2] + ox, a[3] + oy
            ctrl = (a[0] + ox, a[1] + oy)
            self.quad(*ctrl, ex, ey)
        self.cx, self.cy, self.ctrl, self.last_cmd = ex, ey, ctrl, up

    def numbers(self, nums: list[str]) -> None:
        """Numbers for the current command: a run when it is L, H, V or C, else token by token."""
        i = 0
        while self.args and i < len(nums):  # first complete a repetition begun in the last window
            self.feed(nums[i])
            i += 1
        if i < len(nums) and self.cmd and self.up in _RUNS:
            self.run(nums[i:])
        else:
            for tok in nums[i:]:
                self.feed(tok)

    def run(self, numbers: list[str]) -> None:
        """Numbers for the current command (L, H, V or C, absolute or relative), carried out at once.

        The same arithmetic as `segment`, elementwise in NumPy (running sums are sequential, so the
        points are the same to the last bit). Numbers left over after whole repetitions go to `feed`.
        """
        n = self.need
        k = len(numbers) // n
        if k == 0 or self.args or not self.have_start:
            for tok in numbers:
                self.feed(tok)
            return
        try:
            v = np.array(numbers[: k * n], dtype=object).astype(np.float64).reshape(k, n)
        except ValueError:  # something that is not a number: token by token, for the right message
            for tok in numbers:
                self.feed(tok)
            return
        self.count(k)  # before any segment is built
        up, cur = self.up, np.array([[self.cx, self.cy]])
        ctrl = None
        # absolute numbers get + 0.0 as `segment` adds its zero offset (so -0 comes out as 0 alike)
        if up == "C":
            if self.rel:
                offs = np.cumsum(np.concatenate([cur, v[:, 4:6]]), axis=0)
                p = v.reshape(k, 3, 2) + offs[:-1, None, :]
                starts = offs[:-1]
            else:
                p = v.reshape(k, 3, 2) + 0.0
                starts = np.concatenate([cur, p[:-1, 2]])
            block = np.concatenate([starts, p.reshape(k, 6)], axis=1)
            ends = p[:, 2]
            ctrl = (float(p[-1, 1, 0]), float(p[-1, 1, 1]))
        else:
            if up == "L":
                ends = np.cumsum(np.concatenate([cur, v]), axis=0)[1:] if self.rel else v + 0.0
            else:  # H or V: one coordinate moves, the other stays
                axis = 0 if up == "H" else 1
                moved = v[:, 0] + 0.0
                if self.rel:
                    moved = np.cumsum(np.concatenate([cur[0, axis : axis + 1], v[:, 0]]))[1:]
                ends = np.repeat(cur, k, axis=0)
                ends[:, axis] = moved
            starts = np.concatenate([cur, ends[:-1]])
            d = ends - starts
            block = np.concatenate([starts, starts + d / 3.0, starts + 2.0 * d / 3.0, ends], axis=1)
        self.segs.frombytes(np.ascontiguousarray(block, dtype=np.float64).tobytes())
        self.pending = False
        self.cx, self.cy = float(ends[-1, 0]), float(ends[-1, 1])
        self.ctrl, self.last_cmd = ctrl, up
        for tok in numbers[k * n :]:
            self.feed(tok)


def _tokens(d: str) -> Iterator[list[str]]:
    """The tokens of path data, about `_WINDOW` characters at a time, never reading far past the need."""
    pos, end_all = 0, len(d)
    while pos < end_all:
        end = pos + _WINDOW
        if end >= end_all:
            yield _TOKEN_TEXT.findall(d, pos)
            return
        cut = max(d.rfind(" ", pos, end), d.rfind(",", pos, end), d.rfind("\n", pos, end))
        if cut > pos:  # no token spans a separator
            yield _TOKEN_TEXT.findall(d, pos, cut)
            pos = cut
            continue
        full = _TOKEN.findall(d, pos, end)
        # the window's end may cut a number ("1.5e+0|7" reads as 1.5, e, +): the last three tokens
        # are read again by the next window
        del full[-3:]
        if not full:  # a token about as long as the window
            match = _TOKEN.match(d, pos)
            if match is None:
                return
            full = [match.group()]
        pos += sum(map(len, full))
        yield [t.lstrip(_SEPARATORS) for t in full]


def parse_path(
    d: str, max_points: int = MAX_POINTS, max_subpaths: int = MAX_STROKES
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Path data as subpaths: ``(start (2,), cubic segments (k, 4, 2))`` each, lines as straight cubics.

    The data is tokenised lazily, a window at a time, and points are counted on the way (a subpath's
    start and one point per segment, the fewest its flattening can give): parsing stops as soon as the
    path would hold more than ``max_points`` points or ``max_subpaths`` subpaths, without tokenising the
    rest of the data. Runs of one command (``L``, ``H``, ``V``, ``C``, repeated or implicit) are carried
    out in NumPy at once; everything else token by token.
    """
    parser = _PathParser(max_points, max_subpaths)
    for toks in _tokens(d):
        n = len(toks)
        lp = np.flatnonzero(np.fromiter(map(_ARGS_OF.__contains__, toks), dtype=bool, count=n))
        if len(lp) == 0:
            parser.numbers(toks)  # numbers continuing the last command
            continue
        parser.numbers(toks[: lp[0]])
        bounds = np.append(lp[1:], n)  # where each letter's numbers end
        cnt = bounds - lp - 1
        codes = np.frombuffer("".join([toks[i] for i in lp.tolist()]).encode("ascii"), dtype=np.uint8)
        need = _NEED[codes]
        # a run letter repeated after a whole, non-empty group of numbers continues the run
        merge = np.zeros(len(lp), dtype=bool)
        merge[1:] = (
            (codes[1:] == codes[:-1])
            & _IS_RUN[codes[1:]]
            & (cnt[:-1] > 0)
            & (cnt[:-1] % np.maximum(need[:-1], 1) == 0)
            & (cnt[1:] > 0)
        )
        firsts = np.flatnonzero(~merge)
        lasts = np.append(firsts[1:], len(lp)) - 1
        lpl, bl = lp.tolist(), bounds.tolist()
        for g, h in zip(firsts.tolist(), lasts.tolist(), strict=True):
            a = lpl[g]
            letter = toks[a]
            parser.feed(letter)
            if letter in "Mm":  # the moveto's own pair, then implicit linetos
                nums = toks[a + 1 : bl[g]]
                for tok in nums[:2]:
                    parser.feed(tok)
                parser.numbers(nums[2:])
            elif h == g:
                parser.numbers(toks[a + 1 : bl[g]])
            else:
                parser.numbers([t for t in toks[a + 1 : bl[h]] if t != letter])
    return parser.finish()


def _points_attr(
    text: str, closed: bool, max_points: int = MAX_POINTS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A ``points`` list as one subpath; stops reading once it holds more than ``max_points`` points."""
    numbers = itertools.islice(_NUM_RE.finditer(text or ""), 2 * max_points + 2)
    vals = [float(m.group()) for m in numbers]
    if len(vals) < 2 or len(vals) % 2:
        raise _Bad("points need an even number (at least 2) of numbers")
    pts = np.array(vals).reshape(-1, 2)
    if closed and len(pts) > 1 and not np.array_equal(pts[0], pts[-1]):
        pts = np.vstack([pts, pts[:1]])
    if len(pts) > max_points:
        raise _TooMany(max_points, "points")
    a, b = pts[:-1], pts[1:]
    segs = np.stack([a, a + (b - a) / 3.0, a + 2.0 * (b - a) / 3.0, b], axis=1)
    return [(pts[0].copy(), segs)]


def _flatten(
    subpaths: list[tuple[np.ndarray, np.ndarray, np.ndarray]], loc: str
) -> tuple[np.ndarray, np.ndarray]:
    """Apply each subpath's transform and flatten all cubic segments at once.

    Returns the points ``(n, 2)`` and the number of points of every subpath.
    """
    starts = np.array([s for s, _, _ in subpaths]).reshape(-1, 2)
    counts = np.array([len(seg) for _, seg, _ in subpaths], dtype=np.int64)
    mats = np.array([m for _, _, m in subpaths]).reshape(-1, 3, 3)
    segs = np.concatenate([seg for _, seg, _ in subpaths]).reshape(-1, 4, 2)
    seg_sub = np.repeat(np.arange(len(subpaths)), counts)
    with np.errstate(over="ignore", invalid="ignore"):
        starts = np.einsum("sij,sj->si", mats[:, :2, :2], starts) + mats[:, :2, 2]
        seg_m = mats[seg_sub]
        segs = np.einsum("kij,kpj->kpi", seg_m[:, :2, :2], segs) + seg_m[:, None, :2, 2]
        # Uniform subdivision of a cubic into n pieces deviates at most 3/4 * max|second difference| / n^2.
        dd = np.maximum(
            np.linalg.norm(segs[:, 0] - 2 * segs[:, 1] + segs[:, 2], axis=1),
            np.linalg.norm(segs[:, 1] - 2 * segs[:, 2] + segs[:, 3], axis=1),
        )
        pieces = np.ceil(np.sqrt(0.75 * np.nan_to_num(dd, nan=0.0, posinf=1e12) / FLATNESS))
    pieces = np.clip(pieces, 1, MAX_PIECES).astype(np.int64)
    # a start point, then `pieces` points for each of the subpath's segments
    n_points = 1 + np.bincount(seg_sub, weights=pieces, minlength=len(subpaths)).astype(np.int64)
    if int(n_points.sum()) > MAX_POINTS:
        raise StrokelensError(f"{loc}: more than the limit of {MAX_POINTS} points once curves are flattened")
    seg_id = np.repeat(np.arange(len(segs)), pieces)
    first = np.cumsum(pieces) - pieces
    t = ((np.arange(len(seg_id)) - first[seg_id] + 1) / pieces[seg_id])[:, None]
    u = 1.0 - t
    p = segs[seg_id]
    with np.errstate(over="ignore", invalid="ignore"):
        curve = u**3 * p[:, 0] + 3 * u * u * t * p[:, 1] + 3 * u * t * t * p[:, 2] + t**3 * p[:, 3]
    # Each subpath's start point, then the points of its segments: curve point j of subpath s lands at
    # j + s + 1, as s start points (and its own) come before it.
    out = np.empty((int(n_points.sum()), 2))
    out[np.cumsum(n_points) - n_points] = starts
    out[np.arange(len(curve)) + np.repeat(seg_sub, pieces) + 1] = curve
    return out, n_points


def read_svg(path: PathLike, limit: int | None = None) -> list[Sketch]:
    """Read one SVG file as a one-sketch list (``limit`` is accepted for a uniform reader signature)."""
    del limit
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StrokelensError(f"cannot open {path}: {exc.strerror or exc}") from None
    if size > MAX_SVG_BYTES:
        raise StrokelensError(
            f"{path}: {size} bytes exceeds the SVG file size limit of {MAX_SVG_BYTES} bytes "
            "(raise it by setting strokelens.io.svg.MAX_SVG_BYTES)"
        )
    if size == 0:
        raise StrokelensError(f"{path}: empty file, no drawing")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SVG_BYTES + 1)
    except OSError as exc:
        raise StrokelensError(f"cannot open {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SVG_BYTES:  # grew after the size check
        raise StrokelensError(
            f"{path}: larger than the SVG file size limit of {MAX_SVG_BYTES} bytes "
            "(raise it by setting strokelens.io.svg.MAX_SVG_BYTES)"
        )
    try:
        # One feed of the whole file: expat (before 2.6) re-scans an unfinished token at every chunk,
        # so parsing a long attribute chunk by chunk, as ``parse(path)`` does, takes quadratic time.
        root = DET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            raise StrokelensError(
                f"{path}: refused: the SVG declares the external entity {exc.name!r} "
                f"({exc.sysid or exc.pubid}); external entities are not allowed"
            ) from None
        raise StrokelensError(
            f"{path}: refused: the SVG declares the XML entity {exc.name!r} (entity expansion is not allowed)"
        ) from None
    except defusedxml.ExternalReferenceForbidden as exc:
        raise StrokelensError(
            f"{path}: refused: the SVG refers to an external entity ({exc.sysid})"
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise StrokelensError(f"{path}: refused unsafe XML ({exc})") from None
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise StrokelensError(f"{path}, line {line}: not well-formed XML ({exc})") from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise StrokelensError(f"{path}: unreadable ({exc})") from None
    return [_sketch_from_root(root, path)]


def _sketch_from_root(root: ET.Element, path: Path) -> Sketch:
    if _local(root.tag) != "svg":
        raise StrokelensError(f"{path}: not an SVG file (root element <{_local(root.tag)}>)")
    subpaths: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    stack: list[tuple[ET.Element, np.ndarray]] = [(root, np.eye(3))]
    n_elements = 0
    n_points = 0  # the fewest points the subpaths so far flatten to: budget left for the next element
    while stack:
        el, parent = stack.pop()
        tag = _local(el.tag)
        if tag in _SKIP or el.get("display") == "none":
            continue
        n_elements += 1
        desc = f"<{tag}> #{n_elements}" + (f" (id {el.get('id')!r})" if el.get("id") else "")
        try:
            m = parent @ parse_transform(el.get("transform")) if el is not root else parent
            room = MAX_POINTS - n_points
            if tag == "path":
                found = parse_path(el.get("d") or "", room, MAX_STROKES - len(subpaths))
            elif tag in ("polyline", "polygon"):
                found = _points_attr(el.get("points") or "", tag == "polygon", room)
            elif tag == "line":
                coords = " ".join(el.get(k, "0") for k in ("x1", "y1", "x2", "y2"))
                found = _points_attr(coords, False, room)
            else:
                found = []
        except _TooMany as exc:
            limit = MAX_POINTS if exc.what == "points" else MAX_STROKES
            raise StrokelensError(
                f"{path}, {desc}: the drawing has more than the limit of {limit} {exc.what} "
                "(refused while reading this element; the rest of the file was not read)"
            ) from None
        except (_Bad, ValueError, OverflowError) as exc:
            raise StrokelensError(f"{path}, {desc}: {exc}") from None
        subpaths.extend((start, segs, m) for start, segs in found)
        n_points += sum(1 + len(segs) for _, segs in found)
        if len(subpaths) > MAX_STROKES:
            raise StrokelensError(f"{path}: more than the limit of {MAX_STROKES} strokes")
        if len(el):
            stack.extend((child, m) for child in reversed(list(el)))
    if not subpaths:
        raise StrokelensError(f"{path}: drawing has no strokes (no path elements)")
    points, counts = _flatten(subpaths, str(path))
    strokes = np.split(points, np.cumsum(counts)[:-1])
    meta: dict = {}
    if root.get("viewBox"):
        meta["viewBox"] = [float(v) for v in _NUM_RE.findall(root.get("viewBox", ""))]
    return Sketch(strokes=strokes, label=_label(root, path), source=str(path), meta=meta)


def _label(root: ET.Element, path: Path) -> str | None:
    for child in root:
        if _local(child.tag) == "title" and (child.text or "").strip():
            return (child.text or "").strip()
    if path.stem.isdigit() and path.parent.name:
        return path.parent.name
    return None


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    """Text escaped for XML, with characters XML 1.0 cannot hold removed."""
    return escape(_XML_INVALID.sub("", text))


def _fmt(values: np.ndarray) -> list[str]:
    out = []
    for v in np.round(values, 3).ravel().tolist():
        s = f"{v:.3f}".rstrip("0").rstrip(".")
        out.append("0" if s in ("-0", "") else s)
    return out


def svg_text(
    sketch: Sketch,
    stroke_colors: Colors | None = None,
    width: float | None = None,
    background: str | None = None,
) -> str:
    """The sketch as SVG text in its own coordinates: one ``path`` a stroke, round caps and joins.

    ``stroke_colors``: one colour a stroke (hex string, name or RGB tuple); black by default.
    ``width``: line width in sketch units, by default 1/128 of the longer side (at least 1).
    """
    xmin, ymin, xmax, ymax = sketch.bbox()
    extent = max(xmax - xmin, ymax - ymin)
    w = float(width) if width is not None else max(1.0, extent / 128.0)
    pad = w
    colors = None
    if stroke_colors is not None:
        rgb = to_rgb(stroke_colors)
        if len(rgb) != sketch.n_strokes:
            raise StrokelensError(f"{len(rgb)} stroke colours for {sketch.n_strokes} strokes")
        colors = to_hex(rgb)
    vb = _fmt(np.array([xmin - pad, ymin - pad, xmax - xmin + 2 * pad, ymax - ymin + 2 * pad]))
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="{" ".join(vb)}">',
    ]
    if sketch.label:
        lines.append(f"<title>{_xml_text(sketch.label)}</title>")
    if background:
        lines.append(
            f'<rect x="{vb[0]}" y="{vb[1]}" width="{vb[2]}" height="{vb[3]}" '
            f'fill="{to_hex(to_rgb([background]))[0]}"/>'
        )
    lines.append(
        f'<g fill="none" stroke="black" stroke-linecap="round" stroke-linejoin="round" '
        f'stroke-width="{_fmt(np.array([w]))[0]}">'
    )
    for k, stroke in enumerate(sketch.strokes):
        xy = _fmt(stroke)
        if len(stroke) == 1:
            d = f"M{xy[0]} {xy[1]}Z"
        else:
            pairs = [f"{x} {y}" for x, y in zip(xy[::2], xy[1::2], strict=True)]
            d = "M" + pairs[0] + " L" + " ".join(pairs[1:])
        color = f" stroke={quoteattr(colors[k])}" if colors else ""
        lines.append(f'<path d="{d}"{color}/>')
    lines.append("</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def write_svg(
    sketch: Sketch,
    path: PathLike,
    stroke_colors: Colors | None = None,
    width: float | None = None,
) -> None:
    """Write one sketch as an SVG file (see `svg_text`)."""
    Path(path).write_text(svg_text(sketch, stroke_colors=stroke_colors, width=width), encoding="utf-8")
