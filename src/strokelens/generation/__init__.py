"""Explained generation: a sketch completion model, its training and figures, and the view that
explains which strokes of a partial drawing produced a region of the generated drawing.

- `StrokeInks`: every stroke of every sketch drawn alone, once, in its whole sketch's frame; any
  subset of a sketch's strokes is then ``1 - prod(1 - c_stroke)`` over the subset, exactly what the
  renderer's ``composite`` draws for presence 0/1. Training and the figures draw partial drawings
  from it in a few tensor operations.
- `removal_masks`: which strokes a partial drawing drops (a random 30-60 % of each drawing's
  strokes by default, at least one kept), seeded.
- `train_completion`: trains a `CompletionNet` on SPG train, selects on val.
- `completion_iou`: IoU of the generated ink against the removed strokes' ink (on the pixels the
  input does not ink) and on the whole drawing, beside naive baselines.
- `CompletionView`: the completion model seen through the partial drawing's strokes (drawn with
  opacity ``z`` in the whole drawing's frame); its outputs are images, not class logits, so
  targets are callables such as `strokelens.targets.region`.
"""

from strokelens.generation.data import (
    REMOVE_RANGE,
    WHOLE_BBOX,
    CompletionData,
    StrokeInks,
    mean_raster,
    partial_sketches,
    prepare_sketches,
    removal_masks,
    removed_ink_boxes,
    with_whole_frame,
)
from strokelens.generation.quality import (
    THRESHOLDS,
    best_threshold,
    completion_iou,
    completion_scores,
    generate,
    iou,
)
from strokelens.generation.train import train_completion
from strokelens.generation.view import CompletionView
from strokelens.models.completion import WEIGHTS_NAME

__all__ = [
    "REMOVE_RANGE",
    "THRESHOLDS",
    "WEIGHTS_NAME",
    "WHOLE_BBOX",
    "CompletionData",
    "CompletionView",
    "StrokeInks",
    "best_threshold",
    "completion_iou",
    "completion_scores",
    "generate",
    "iou",
    "mean_raster",
    "partial_sketches",
    "prepare_sketches",
    "removal_masks",
    "removed_ink_boxes",
    "train_completion",
    "with_whole_frame",
]
