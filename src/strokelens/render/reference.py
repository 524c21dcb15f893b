"""A plain, non-differentiable rendering of the QuickDraw 28x28 bitmap recipe (the reference).

The recipe (the one DoodleNet was trained on, after the QuickDraw dataset's ``vector_to_raster``):
scale the sketch so its longer side spans 0..255, centre it in a 256-unit square, draw it with a
16-unit line with round caps and joins, add 16 units of padding plus half a line on each side
(a 304-unit canvas) and anti-alias down to ``size`` x ``size``: white ink on black, values in [0, 1].

Here PIL draws the strokes at ``oversample`` times the output resolution (a filled disc at every point
for the round caps and joins, and a filled rectangle of the exact line width along every segment) and
the result is box-averaged down, so each output pixel holds the fraction of its area under ink
(to within PIL's whole-pixel rounding: 1/oversample of an output pixel).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from strokelens.sketch import Sketch

#: Side of the square the sketch is normalised into.
QD_FRAME = 256.0
#: Line diameter, in frame units.
QD_LINE = 16.0
#: Padding on each side, in frame units (a half line is added to it).
QD_PAD = 16.0
#: Side of the whole canvas in frame units: 256 + 2 * 16 + 16.
QD_CANVAS = QD_FRAME + 2 * QD_PAD + QD_LINE


def quickdraw_frame_transform(points: np.ndarray) -> tuple[float, float, float]:
    """``(scale, offset_x, offset_y)`` taking raw points to canvas units (0..304) by the recipe."""
    lo = points.min(axis=0)
    ext = points.max(axis=0) - lo
    longest = float(ext.max())
    k = 255.0 / longest if longest > 0 else 1.0
    # Centre the 0..255 drawing in a 256 square, then shift by the padding plus half a line.
    shift = (QD_FRAME - ext * k) / 2.0 + (QD_CANVAS - QD_FRAME) / 2.0
    off = shift - lo * k
    return k, float(off[0]), float(off[1])


def quickdraw_bitmap_reference(sketch: Sketch, size: int = 28, oversample: int = 32) -> np.ndarray:
    """Render ``sketch`` by the QuickDraw bitmap recipe: ``(size, size)`` float32 in [0, 1]."""
    hi = size * oversample
    k, ox, oy = quickdraw_frame_transform(sketch.points())
    unit = hi / QD_CANVAS  # high-resolution pixels per canvas unit
    # PIL rounds vertices to whole pixels and fills shapes inclusive of their boundary pixels, which
    # makes every shape one pixel wider: draw half a pixel thinner on each side to compensate.
    radius = QD_LINE * unit / 2.0 - 0.5
    img = Image.new("L", (hi, hi), 0)
    draw = ImageDraw.Draw(img)
    for stroke in sketch.strokes:
        # PIL puts pixel centres at integer coordinates; ours are at +0.5.
        xy = np.column_stack([(stroke[:, 0] * k + ox) * unit, (stroke[:, 1] * k + oy) * unit]) - 0.5
        d = np.diff(xy, axis=0)
        length = np.hypot(d[:, 0], d[:, 1])
        keep = length > 0
        normal = np.column_stack([-d[keep, 1], d[keep, 0]]) / length[keep, None] * radius
        a, b = xy[:-1][keep], xy[1:][keep]
        quads = np.stack([a + normal, b + normal, b - normal, a - normal], axis=1)
        for quad in quads.tolist():
            draw.polygon([tuple(q) for q in quad], fill=255)
        for x, y in xy.tolist():
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr.reshape(size, oversample, size, oversample).mean(axis=(1, 3)).astype(np.float32)
