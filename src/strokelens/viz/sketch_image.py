"""Draw a sketch on a fixed-size canvas, as SVG text or an anti-aliased PNG, with colours.

Colours come per stroke (``stroke_colors``, one a stroke) or per point (``point_colors``, one for each
point of ``sketch.points()``, i.e. drawing order, as in `SketchBatch`); the segment from point ``k`` to
``k + 1`` takes point ``k``'s colour. Any colour form of `strokelens.colors` works (hex strings, RGB
tuples in 0..255, float RGB in 0..1), so scores mapped through a colormap can be passed straight in.

The sketch is scaled uniformly and centred in a ``size`` x ``size`` canvas with padding; an optional
title takes a band at the top and an optional legend (``[(name, colour), ...]``) rows at the bottom.
`sketch_svg` and `sketch_png` share that layout. PNGs are drawn at 4x and box-filtered down, with round
caps and joins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from strokelens.colors import PALETTE, Color, Colors, to_hex, to_rgb
from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch

#: Supersampling factor of `sketch_png`.
SUPERSAMPLE = 4
Legend = list[tuple[str, Color]]
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(value: str) -> str:
    return escape(_XML_INVALID.sub("", value))


def part_colors(sketch: Sketch, palette: list[str] | None = None) -> list[str]:
    """One colour a point from the sketch's part labels (part ``k`` -> ``palette[k % len]``).

    Points without a part label (``-1``) or sketches without parts are grey.
    """
    palette = palette or PALETTE
    if sketch.parts is None:
        return ["#555555"] * sketch.n_points
    labels = np.concatenate(sketch.parts).astype(np.int64)
    table = np.array([*palette, "#555555"], dtype=object)
    idx = np.where(labels >= 0, labels % len(palette), len(palette))
    return table[idx].tolist()


def part_legend(sketch: Sketch, palette: list[str] | None = None) -> Legend:
    """``[(part name, colour), ...]`` for the parts present in the sketch, in part order."""
    palette = palette or PALETTE
    if sketch.parts is None:
        return []
    present = np.unique(np.concatenate(sketch.parts).astype(np.int64))
    names = sketch.part_names or []
    return [
        (names[k] if k < len(names) else f"part {k}", palette[k % len(palette)]) for k in present if k >= 0
    ]


# ------------------------------------------------------------------------------------------- layout
@dataclass
class _Layout:
    size: int
    font_size: float
    title_h: float
    legend_rows: list[list[tuple[str, np.ndarray, float]]]  # (text, rgb, x) per entry
    legend_top: float
    row_h: float


@lru_cache(maxsize=16)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(px, 1))


def _layout(size: int, title: str | None, legend: Legend | None) -> _Layout:
    fs = max(8.0, size * 0.05)
    title_h = fs * 1.8 if title else 0.0
    row_h = fs * 1.5
    rows: list[list[tuple[str, np.ndarray, float]]] = []
    if legend:
        font = _font(round(fs))
        rgb = to_rgb([c for _, c in legend])
        x, row = fs * 0.6, []
        for (name, _), color in zip(legend, rgb, strict=True):
            w = fs * 1.4 + float(font.getlength(name)) + fs * 0.9
            if row and x + w > size:
                rows.append(row)
                x, row = fs * 0.6, []
            row.append((name, color, x))
            x += w
        rows.append(row)
    legend_top = size - len(rows) * row_h - (fs * 0.3 if rows else 0.0)
    return _Layout(size, fs, title_h, rows, legend_top, row_h)


def _fit(sketch: Sketch, lay: _Layout, width: float) -> np.ndarray:
    """All points mapped into the free area of the canvas (uniform scale, centred)."""
    pts = sketch.points()
    pad = lay.size * 0.05 + width / 2
    top, bottom = lay.title_h + pad, lay.legend_top - pad
    left, right = pad, lay.size - pad
    if bottom - top < 4 or right - left < 4:
        raise StrokelensError(f"canvas of {lay.size} px is too small for the title and legend")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ext = hi - lo
    scale = min(
        (right - left) / ext[0] if ext[0] > 0 else np.inf, (bottom - top) / ext[1] if ext[1] > 0 else np.inf
    )
    if not np.isfinite(scale):
        scale = 1.0
    centre_src = (lo + hi) / 2
    centre_dst = np.array([(left + right) / 2, (top + bottom) / 2])
    return (pts - centre_src) * scale + centre_dst


def _point_rgb(sketch: Sketch, stroke_colors: Colors | None, point_colors: Colors | None) -> np.ndarray:
    if stroke_colors is not None and point_colors is not None:
        raise StrokelensError("give stroke_colors or point_colors, not both")
    if point_colors is not None:
        rgb = to_rgb(point_colors)
        if len(rgb) != sketch.n_points:
            raise StrokelensError(f"{len(rgb)} point colours for {sketch.n_points} points")
        return rgb
    if stroke_colors is not None:
        rgb = to_rgb(stroke_colors)
        if len(rgb) != sketch.n_strokes:
            raise StrokelensError(f"{len(rgb)} stroke colours for {sketch.n_strokes} strokes")
        return np.repeat(rgb, [len(s) for s in sketch.strokes], axis=0)
    return np.zeros((sketch.n_points, 3), dtype=np.uint8)


def _runs(sketch: Sketch, rgb: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """Maximal one-colour pieces ``(first point, last point, rgb)``; a piece ends on the next colour's
    first point so the line stays connected. A single-point stroke is a piece of one point."""
    counts = np.array([len(s) for s in sketch.strokes])
    ends = np.cumsum(counts)
    starts = ends - counts
    code = rgb.astype(np.int64) @ np.array([65536, 256, 1])
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b - a == 1:
            out.append((a, a, rgb[a]))
            continue
        seg = code[a : b - 1]
        cuts = [a, *(a + 1 + np.flatnonzero(seg[1:] != seg[:-1])).tolist(), b - 1]
        out.extend((p, q, rgb[p]) for p, q in pairwise(cuts))
    return out


# --------------------------------------------------------------------------------------------- SVG
def sketch_svg(
    sketch: Sketch,
    stroke_colors: Colors | None = None,
    point_colors: Colors | None = None,
    size: int = 256,
    width: float = 3.0,
    title: str | None = None,
    legend: Legend | None = None,
    background: str = "white",
) -> str:
    """The sketch as a standalone ``size`` x ``size`` SVG document (``width`` in output pixels)."""
    lay = _layout(size, title, legend)
    pts = _fit(sketch, lay, width)
    rgb = _point_rgb(sketch, stroke_colors, point_colors)
    f = lambda v: f"{v:.2f}".rstrip("0").rstrip(".")  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">',
        f'<rect width="{size}" height="{size}" fill="{to_hex(to_rgb([background]))[0]}"/>',
        f'<g fill="none" stroke-width="{f(width)}" stroke-linecap="round" stroke-linejoin="round">',
    ]
    for a, b, color in _runs(sketch, rgb):
        hexc = to_hex(color)[0]
        if a == b:
            x, y = pts[a]
            out.append(f'<circle cx="{f(x)}" cy="{f(y)}" r="{f(width / 2)}" fill="{hexc}" stroke="none"/>')
        else:
            coords = " ".join(f"{f(x)},{f(y)}" for x, y in pts[a : b + 1])
            out.append(f'<polyline points="{coords}" stroke="{hexc}"/>')
    out.append("</g>")
    font = 'font-family="DejaVu Sans, Arial, sans-serif"'
    if title:
        out.append(
            f'<text x="{f(size / 2)}" y="{f(lay.font_size * 1.3)}" text-anchor="middle" {font} '
            f'font-size="{f(lay.font_size * 1.1)}">{_text(title)}</text>'
        )
    for r, row in enumerate(lay.legend_rows):
        y = lay.legend_top + r * lay.row_h
        for name, color, x in row:
            box = lay.font_size
            out.append(
                f'<rect x="{f(x)}" y="{f(y + (lay.row_h - box) / 2)}" width="{f(box)}" height="{f(box)}" '
                f'fill="{to_hex(color)[0]}"/>'
            )
            out.append(
                f'<text x="{f(x + box * 1.4)}" y="{f(y + lay.row_h * 0.72)}" {font} '
                f'font-size="{f(lay.font_size)}">{_text(name)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- PNG
def sketch_png(
    sketch: Sketch,
    path: str | os.PathLike[str] | None = None,
    stroke_colors: Colors | None = None,
    point_colors: Colors | None = None,
    size: int = 256,
    width: float = 3.0,
    title: str | None = None,
    legend: Legend | None = None,
    background: str = "white",
) -> Image.Image:
    """Draw the sketch as an anti-aliased RGB image; also save it to ``path`` when given."""
    lay = _layout(size, title, legend)
    ss = SUPERSAMPLE
    pts = _fit(sketch, lay, width) * ss
    rgb = _point_rgb(sketch, stroke_colors, point_colors)
    img = Image.new("RGB", (size * ss, size * ss), tuple(int(v) for v in to_rgb([background])[0]))
    draw = ImageDraw.Draw(img)
    line_w = max(1, round(width * ss))
    r = line_w / 2
    for a, b, color in _runs(sketch, rgb):
        fill = tuple(int(v) for v in color)
        seg = pts[a : b + 1]
        if a != b:
            draw.line([tuple(p) for p in seg.tolist()], fill=fill, width=line_w, joint="curve")
        for x, y in (seg[[0, -1]] if a != b else seg[:1]).tolist():  # round caps
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    fs = lay.font_size * ss
    if lay.title_h:
        font = _font(round(fs * 1.1))
        draw.text((size * ss / 2, fs * 1.3), title or "", fill=(0, 0, 0), font=font, anchor="ms")
    font = _font(round(fs))
    for row_i, row in enumerate(lay.legend_rows):
        y = (lay.legend_top + row_i * lay.row_h) * ss
        row_h = lay.row_h * ss
        for name, color, x in row:
            x = x * ss
            box_y = y + (row_h - fs) / 2
            draw.rectangle([x, box_y, x + fs, box_y + fs], fill=tuple(int(v) for v in color))
            draw.text((x + fs * 1.4, y + row_h * 0.72), name, fill=(0, 0, 0), font=font, anchor="ls")
    img = img.resize((size, size), Image.Resampling.BOX)
    if path is not None:
        try:
            img.save(Path(path))
        except (OSError, ValueError) as exc:
            raise StrokelensError(f"cannot write {path}: {exc}") from None
    return img
