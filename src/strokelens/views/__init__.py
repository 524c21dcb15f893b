"""Views: how a model sees its input with some units removed (``z`` per unit in [0, 1]).

| view | model ``input_kind`` | units | how ``z`` reaches the model |
|---|---|---|---|
| `RasterSketchView` | ``raster-sketch`` | strokes, pieces | unit ``k`` drawn with opacity ``z_k`` |
| `VectorSketchView` | ``vector-sketch`` | strokes | a soft presence weight per stroke |
| `ImageView` | ``image`` | superpixels | ``x * M(z) + baseline * (1 - M(z))`` |
| `VideoView` | ``video`` | supervoxels | the same over a clip's frames |
| `EmbeddingView` | any of those | theirs | similarity of the embedding to a reference |

``view.game(units, target)`` binds a view to a batch's units and returns a `Game`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from strokelens import kinds
from strokelens.kinds import InputKind
from strokelens.sketch import Sketch
from strokelens.views.base import View
from strokelens.views.embedding import EmbeddingView
from strokelens.views.image import ImageView
from strokelens.views.raster import RasterSketchView
from strokelens.views.vector import VectorSketchView
from strokelens.views.video import VideoView

__all__ = [
    "EmbeddingView",
    "ImageView",
    "RasterSketchView",
    "VectorSketchView",
    "VideoView",
    "View",
    "preprocess",
    "view_for",
]

#: The view class for each kind of model input.
VIEWS: dict[InputKind, type[View]] = {
    v.kind: v for v in (RasterSketchView, VectorSketchView, ImageView, VideoView)
}


def input_kind(model: torch.nn.Module) -> InputKind:
    """A model's declared kind of input (`strokelens.kinds.of`), one a view takes, or an error saying
    how to declare it."""
    return kinds.of(model, among=VIEWS)


def view_for(model: torch.nn.Module, **kwargs: Any) -> View:
    """The view that fits ``model.input_kind`` (sketch models and photo models alike)."""
    return VIEWS[input_kind(model)](model, **kwargs)


def preprocess(sketches: Sequence[Sketch], model: torch.nn.Module, simplify: bool = True) -> list[Sketch]:
    """Sketches as a model is explained on them (see `RasterSketchView.prepare`)."""
    if simplify and input_kind(model) is kinds.RASTER_SKETCH:
        return [s.quickdraw_simplified() for s in sketches]
    return list(sketches)
