"""Views: how a model sees its input with some units removed (``z`` per unit in [0, 1]).

| view | model ``input_kind`` | units | how ``z`` reaches the model |
|---|---|---|---|
| `RasterSketchView` | ``raster-sketch`` | strokes, pieces | unit ``k`` drawn with opacity ``z_k`` |
| `VectorSketchView` | ``vector-sketch`` | strokes | a soft presence weight per stroke |
| `ImageView` | ``image`` | superpixels | ``x * M(z) + baseline * (1 - M(z))`` |
| `EmbeddingView` | any of those | theirs | similarity of the embedding to a reference |

``view.game(units, target)`` binds a view to a batch's units and returns a `Game`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch
from strokelens.views.base import View
from strokelens.views.embedding import EmbeddingView
from strokelens.views.image import ImageView
from strokelens.views.raster import RasterSketchView
from strokelens.views.vector import VectorSketchView

__all__ = [
    "EmbeddingView",
    "ImageView",
    "RasterSketchView",
    "VectorSketchView",
    "View",
    "preprocess",
    "view_for",
]

#: The view class for each model ``input_kind``.
VIEWS: dict[str, type[View]] = {v.input_kind: v for v in (RasterSketchView, VectorSketchView, ImageView)}


def input_kind(model: torch.nn.Module) -> str:
    """A model's declared ``input_kind``, or an error saying how to declare it."""
    kind = getattr(model, "input_kind", None)
    if kind not in VIEWS:
        raise StrokelensError(
            f"{type(model).__name__} declares input_kind {kind!r}; expected one of {', '.join(VIEWS)} "
            "(set model.input_kind and model.class_names)"
        )
    return kind


def view_for(model: torch.nn.Module, **kwargs: Any) -> View:
    """The view that fits ``model.input_kind`` (sketch models and photo models alike)."""
    return VIEWS[input_kind(model)](model, **kwargs)


def preprocess(sketches: Sequence[Sketch], model: torch.nn.Module, simplify: bool = True) -> list[Sketch]:
    """Sketches as a model is explained on them (see `RasterSketchView.prepare`)."""
    if simplify and input_kind(model) == "raster-sketch":
        return [s.quickdraw_simplified() for s in sketches]
    return list(sketches)
