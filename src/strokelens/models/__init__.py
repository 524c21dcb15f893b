"""Pre-trained models strokelens explains out of the box, loaded by name.

Every loaded model is an ``nn.Module`` in eval mode with ``class_names`` (output order) and
``input_kind``: ``"raster-sketch"`` (takes ``(B, 1, H, W)`` ink images), ``"vector-sketch"`` (takes
strokes and a soft presence per stroke) or ``"image"`` (takes ``(B, 3, H, W)`` RGB in [0, 1]).

The names and input kinds below are known without importing PyTorch (the CLI lists them in its help).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from strokelens.errors import StrokelensError

if TYPE_CHECKING:
    import torch

#: name -> "module:function" returning the model; modules load lazily.
REGISTRY = {
    "doodlenet": "strokelens.models.doodlenet:load",
    "darknet-tiny": "strokelens.models.darknet:load",
    "stroke-transformer": "strokelens.models.stroke_transformer:load",
    "stroke-transformer-mixed": "strokelens.models.stroke_transformer:load_mixed",
}

#: name -> the ``input_kind`` the loaded model will have, known without loading it.
INPUT_KINDS = {
    "doodlenet": "raster-sketch",
    "darknet-tiny": "image",
    "stroke-transformer": "vector-sketch",
    "stroke-transformer-mixed": "vector-sketch",
}


def load_model(
    name: str,
    home: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
) -> torch.nn.Module:
    """Load a registered model by name, in eval mode, on ``device`` (CPU by default). Their weights ship
    with strokelens; ``home`` (the data folder) is accepted for compatibility and not needed."""
    if name not in REGISTRY:
        raise StrokelensError(f"unknown model {name!r}; available: {', '.join(sorted(REGISTRY))}")
    module_name, func = REGISTRY[name].split(":")
    model = getattr(importlib.import_module(module_name), func)(home=home)
    return model.to(device or "cpu").eval()
