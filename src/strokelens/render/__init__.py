"""Rendering vector sketches to pixels: a plain reference and a fast differentiable rasteriser."""

from strokelens.render.coverage import InkCoverage, ink_coverage
from strokelens.render.dense import rasterize_dense
from strokelens.render.presets import QuickDrawBitmap, RasterPreset, SketchCanvas
from strokelens.render.rasteriser import Rasterizer, rasterize
from strokelens.render.reference import quickdraw_bitmap_reference

__all__ = [
    "InkCoverage",
    "QuickDrawBitmap",
    "RasterPreset",
    "Rasterizer",
    "SketchCanvas",
    "ink_coverage",
    "quickdraw_bitmap_reference",
    "rasterize",
    "rasterize_dense",
]
