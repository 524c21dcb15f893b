"""Pictures of attacks: each drawing before and after, side by side, with what the attack changed
in red (the removed strokes before, the moved points after), and the attack's HTML report."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from strokelens.sketch import Sketch
from strokelens.viz.report import _STYLE, _img
from strokelens.viz.sketch_image import sketch_png

INK, CHANGED = "#222222", "#d62728"


def removal_pair(
    before: Sketch, after: Sketch, removed: Sequence[int], titles: tuple[str, str], size: int = 256
):
    """The drawing with its removed strokes in red, beside the drawing the attack left."""
    gone = set(removed)
    left = sketch_png(
        before,
        stroke_colors=[CHANGED if k in gone else INK for k in range(before.n_strokes)],
        size=size,
        title=titles[0],
    )
    right = sketch_png(after, stroke_colors=[INK] * after.n_strokes, size=size, title=titles[1])
    return _side_by_side(left, right)


def geometry_pair(
    before: Sketch, after: Sketch, moved: Sequence[bool], titles: tuple[str, str], size: int = 256
):
    """The drawing beside the attacked drawing, whose moved points (and the segments they start) are red."""
    left = sketch_png(before, stroke_colors=[INK] * before.n_strokes, size=size, title=titles[0])
    colors = [CHANGED if m else INK for m in moved]
    right = sketch_png(after, point_colors=colors, size=size, title=titles[1])
    return _side_by_side(left, right)


def _side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    out = Image.new("RGB", (left.width + right.width + 8, max(left.height, right.height)), "white")
    out.paste(left, (0, 0))
    out.paste(right, (left.width + 8, 0))
    return out


def write_attack_report(
    path: str | Path,
    title: str,
    summary: Sequence[tuple[str, str]],
    items: Sequence[tuple[Image.Image, str]],
    max_items: int = 100,
) -> Path:
    """A self-contained HTML page: a summary table, then every drawing's before/after picture with
    its caption (HTML). Shows the first ``max_items`` drawings."""
    path = Path(path)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1><table>",
    ]
    parts.extend(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary)
    parts.append(
        "</table><h2>Drawings</h2><p class='small'>Left: the drawing as the model read it, removed strokes "
        "in red. Right: the attacked drawing, moved points in red.</p><table>"
    )
    for image, caption in items[:max_items]:
        parts.append(f"<tr><td>{caption}</td><td>{_img(image)}</td></tr>")
    parts.append("</table></body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path
