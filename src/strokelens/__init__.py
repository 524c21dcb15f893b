"""strokelens: explain sketch and image models in strokes, stroke pieces and superpixels."""

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch, SketchBatch

__all__ = ["Sketch", "SketchBatch", "StrokelensError"]
__version__ = "0.1.0"
