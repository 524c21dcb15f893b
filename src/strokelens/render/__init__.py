"""Rendering vector sketches to pixels: a plain reference and a fast differentiable rasteriser."""

from strokelens.render.reference import quickdraw_bitmap_reference

__all__ = ["quickdraw_bitmap_reference"]
