"""Colour inputs: hex strings, colour names or RGB tuples, turned into one ``(k, 3)`` uint8 array.

Every drawing function takes colours in any of these forms:

* strings understood by Pillow: ``"#1f77b4"``, ``"#abc"``, ``"red"``, ``"rgb(10,20,30)"``;
* integer RGB(A) triples in 0..255, e.g. ``(31, 119, 180)``;
* float RGB(A) triples or arrays in 0..1 (any float dtype counts as 0..1), e.g. from a matplotlib
  colormap such as ``plt.cm.viridis(scores)``.

Alpha is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import ImageColor

from strokelens.errors import StrokelensError

#: Tableau 10, a qualitative palette that reads well on white; part ``k`` gets ``PALETTE[k % 10]``.
PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]

Color = str | Sequence[float] | np.ndarray
Colors = Sequence[Color] | np.ndarray


def to_rgb(colors: Colors) -> np.ndarray:
    """Convert a sequence of colours (see module docs) to a ``(k, 3)`` uint8 array."""
    if isinstance(colors, np.ndarray) and colors.dtype.kind in "iuf":
        arr = colors.reshape(-1, colors.shape[-1]) if colors.ndim > 1 else colors.reshape(1, -1)
        if arr.shape[1] not in (3, 4):
            raise StrokelensError(f"colour arrays need 3 or 4 channels, got shape {colors.shape}")
        rgb = arr[:, :3].astype(np.float64)
        if colors.dtype.kind == "f":
            rgb = rgb * 255.0
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return np.array([_one(c) for c in colors], dtype=np.uint8).reshape(-1, 3)


def _one(color: Color) -> tuple[int, int, int]:
    if isinstance(color, str):
        try:
            return ImageColor.getrgb(color)[:3]
        except ValueError:
            raise StrokelensError(f"unknown colour {color!r}") from None
    arr = np.asarray(color)
    if arr.ndim != 1 or len(arr) not in (3, 4) or arr.dtype.kind not in "iuf":
        raise StrokelensError(f"a colour is a string or an RGB triple, got {color!r}")
    return tuple(int(v) for v in to_rgb(arr)[0])


def to_hex(rgb: np.ndarray) -> list[str]:
    """``(k, 3)`` uint8 colours as ``#rrggbb`` strings."""
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)]
