"""DoodleNet: ml5's QuickDraw classifier (345 classes), a small Keras CNN in TF.js layers format.

The wheel carries it (``weights/doodlenet/``: ml5's TF.js files as published, MIT, their licence
beside them), so no data folder is needed. Input ``(B, 1, 28, 28)``: white ink on black, values in
[0, 1], the QuickDraw bitmap recipe (see ``strokelens.render.presets``). Output: logits over
`class_names` (the exported softmax is dropped).
"""

from __future__ import annotations

import os
from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.models.files import read_class_names
from strokelens.models.tfjs import TFJSModel, load_tfjs

#: The packaged copy of ml5's DoodleNet folder (model.json, one weight shard, class_names.txt).
MODEL_DIR = Path(__file__).parent / "weights" / "doodlenet"
N_CLASSES = 345


def load(home: str | os.PathLike[str] | None = None) -> TFJSModel:
    """Load the packaged DoodleNet (`MODEL_DIR`) in eval mode, returning logits. ``home`` is unused (the
    weights ship with strokelens); it stays for callers that pass it.

    ``class_names`` use QuickDraw's spelling with spaces (``traffic light``, ``The Eiffel Tower``),
    so they compare equal to `Sketch.label`.
    """
    del home  # the weights ship inside the package
    folder = MODEL_DIR
    model = load_tfjs(folder / "model.json", drop_final_softmax=True)
    if model.input_shape != (1, 28, 28):
        raise StrokelensError(f"{folder / 'model.json'}: expected a 28x28x1 input, got {model.input_shape}")
    names = read_class_names(folder / "class_names.txt", N_CLASSES)
    model.class_names = [n.replace("_", " ") for n in names]
    model.input_kind = "raster-sketch"
    model.input_size = 28
    return model.eval()
