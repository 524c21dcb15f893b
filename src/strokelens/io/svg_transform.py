"""SVG ``transform`` attributes as 3x3 affine matrices."""

from __future__ import annotations

import math
import re

import numpy as np

from strokelens.io.svg_path import _NUM_RE, _Bad, check_numbers

_TRANSFORM = re.compile(r"\s*,?\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)\s*")


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
        check_numbers(match.group(2), f"{match.group(1)}(...)")
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
