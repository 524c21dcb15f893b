"""Pictures of sketches: SVG text and anti-aliased PNGs with per-stroke or per-point colours.

Colours themselves (`PALETTE`, `to_hex`, `to_rgb`) live in `strokelens.colors`.
"""

from __future__ import annotations

from strokelens.viz.sketch_image import part_colors, part_legend, sketch_png, sketch_svg

__all__ = ["part_colors", "part_legend", "sketch_png", "sketch_svg"]
