"""Tiny Darknet: an ImageNet classifier (1,000 classes, about 1 M parameters) in TF.js layers format.

Input ``(B, 3, 224, 224)`` RGB in [0, 1] (pixel values divided by 255, no mean subtraction); output:
logits over `class_names` (the model ends in a 1x1 convolution and global average pooling).
The wheel carries it (``weights/darknet-tiny/``: ml5's TF.js files as published, MIT, their licence
beside them). `preprocess` turns a photo into that input; `match_imagenet_samples` pairs the shared sample
photos (``n<wnid>_<class_name>.JPEG``) with class indices.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from strokelens.errors import StrokelensError
from strokelens.models.files import read_class_names
from strokelens.models.tfjs import TFJSModel, load_tfjs
from strokelens.photo import CropTransform

#: The packaged copy of ml5's Tiny Darknet folder (model.json, 31 weight shards, class_names.txt).
MODEL_DIR = Path(__file__).parent / "weights" / "darknet-tiny"
N_CLASSES = 1000
INPUT_SIZE = 224


def load(home: str | os.PathLike[str] | None = None) -> TFJSModel:
    """Load the packaged Tiny Darknet (`MODEL_DIR`) in eval mode, returning logits. ``home`` is unused
    (the weights ship with strokelens); it stays for callers that pass it."""
    del home  # the weights ship inside the package
    folder = MODEL_DIR
    model = load_tfjs(folder / "model.json", drop_final_softmax=True)
    if model.input_shape != (3, INPUT_SIZE, INPUT_SIZE):
        raise StrokelensError(f"{folder / 'model.json'}: expected a 224x224x3 input, got {model.input_shape}")
    model.class_names = read_class_names(folder / "class_names.txt", N_CLASSES)
    model.input_kind = "image"
    model.input_size = INPUT_SIZE
    return model  # in eval mode and channels-last (`strokelens.models.tfjs.build_model`)


def preprocess(image: Image.Image, size: int = INPUT_SIZE) -> torch.Tensor:
    """Centre-crop ``image`` to a square, resize it to ``size`` (bicubic): ``(3, size, size)`` in [0, 1].
    The same `CropTransform` the image view uses."""
    return CropTransform.centre(*image.size, size).tensor(image)
