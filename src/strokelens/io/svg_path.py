"""SVG path data into subpaths of cubic segments, with the point and stroke limits counted on the way.

`parse_path` tokenises ``d`` lazily, a window of `_WINDOW` characters at a time, and stops with
`_TooMany` as soon as the path would pass its point or subpath limit, without reading the rest. Runs
of one command (``L``, ``H``, ``V``, ``C``) are carried out in NumPy at once, everything else token by
token; arcs become a straight line to their end point. `_points_attr` reads a ``points`` list
(``polyline``, ``polygon``, ``line``) as one subpath, no further than its point limit. Bad data raises
`_Bad`, which the reader in `strokelens.io.svg` reports with the file and element.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Iterator

import numpy as np

from strokelens.sketch import MAX_POINTS, MAX_STROKES

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# One path data token with the separators before it (SVG separators are ASCII whitespace and commas).
_TOKEN = re.compile(rf"[\s,]*(?:[MmLlHhVvCcSsQqTtAaZz]|{_NUMBER}|[^\s,])", re.ASCII)
_SEPARATORS = " \t\n\r\f\v,"
_TOKEN_TEXT = re.compile(rf"[\s,]*([MmLlHhVvCcSsQqTtAaZz]|{_NUMBER}|[^\s,])", re.ASCII)  # without separators
#: Path data is tokenised this many characters at a time.
_WINDOW = 1 << 16
_NUM_RE = re.compile(_NUMBER)
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


def check_numbers(text: str, what: str) -> None:
    """Refuse ``text`` unless it is numbers and separators only: a unit (``px``, ``cm``, ``%``,
    ``deg``) or a word in a number list is an error, not skipped."""
    left = _NUM_RE.sub(" ", text).strip(" ,\t\r\n")
    if left:
        raise _Bad(f"{what} holds {left.split()[0]!r}, not a number (units and words are not read)")


def _points_attr(
    text: str, closed: bool, max_points: int = MAX_POINTS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A ``points`` list as one subpath; stops reading once it holds more than ``max_points`` points."""
    check_numbers(text or "", "the points")
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
