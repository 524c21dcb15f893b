"""strokelens: explain sketch and image models in strokes, stroke pieces and superpixels."""

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch, SketchBatch

__all__ = ["Sketch", "SketchBatch", "StrokelensError", "wrap"]


def __getattr__(name: str):
    if name == "wrap":  # imported on first use: it needs PyTorch
        from strokelens.models.wrap import wrap

        return wrap
    raise AttributeError(f"module 'strokelens' has no attribute {name!r}")


__version__ = "0.1.0"
