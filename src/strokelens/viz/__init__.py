"""Pictures of sketches: SVG text and anti-aliased PNGs with per-stroke or per-point colours."""

from __future__ import annotations

from strokelens.viz.colors import PALETTE, to_hex, to_rgb
from strokelens.viz.sketch_image import part_colors, part_legend, sketch_png, sketch_svg

__all__ = ["PALETTE", "part_colors", "part_legend", "sketch_png", "sketch_svg", "to_hex", "to_rgb"]
