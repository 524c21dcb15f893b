"""Tiny Darknet: an ImageNet classifier (1,000 classes, about 1 M parameters) in TF.js layers format.

Input ``(B, 3, 224, 224)`` RGB in [0, 1] (pixel values divided by 255, no mean subtraction); output:
logits over `class_names` (the model ends in a 1x1 convolution and global average pooling).
`preprocess` turns a photo into that input; `match_imagenet_samples` pairs the shared sample
photos (``n<wnid>_<class_name>.JPEG``) with class indices.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from PIL import Image

from strokelens.errors import StrokelensError
from strokelens.home import home_path
from strokelens.models.files import read_class_names
from strokelens.models.tfjs import TFJSModel, load_tfjs
from strokelens.photo import CropTransform, Photo

MODEL_DIR = "models/darknet-tiny"
N_CLASSES = 1000
INPUT_SIZE = 224


def load(home: str | os.PathLike[str] | None = None) -> TFJSModel:
    """Load Tiny Darknet from ``HOME/models/darknet-tiny`` in eval mode, returning logits."""
    folder = home_path(MODEL_DIR, home)
    model = load_tfjs(folder / "model.json", drop_final_softmax=True)
    if model.input_shape != (3, INPUT_SIZE, INPUT_SIZE):
        raise StrokelensError(f"{folder / 'model.json'}: expected a 224x224x3 input, got {model.input_shape}")
    model.class_names = read_class_names(folder / "class_names.txt", N_CLASSES)
    model.input_kind = "image"
    model.input_size = INPUT_SIZE
    # channels-last convolution kernels run about 1.7x faster on CPU (same numbers, NCHW in and out)
    return model.to(memory_format=torch.channels_last).eval()


def preprocess(image: Image.Image, size: int = INPUT_SIZE) -> torch.Tensor:
    """Centre-crop ``image`` to a square, resize it to ``size`` (bicubic): ``(3, size, size)`` in [0, 1].
    The same `CropTransform` the image view uses."""
    return CropTransform.centre(*image.size, size).tensor(image)


def normalise_name(name: str) -> str:
    """Lower case, ``_``/``-`` as spaces, no apostrophes: ``"Jack-o'-lantern"`` -> ``"jack o lantern"``."""
    name = name.lower().replace("_", " ").replace("-", " ").replace("'", "")
    return " ".join(name.split())


def sample_class_name(path: str | os.PathLike[str]) -> str:
    """The class part of an ImageNet sample name: ``n01440764_tench.JPEG`` -> ``tench``."""
    stem = Path(path).stem
    match = re.fullmatch(r"n\d{8}_(.+)", stem)
    if not match:
        raise StrokelensError(f"{path}: expected a name like n01440764_tench.JPEG")
    return match.group(1)


def match_imagenet_samples(
    paths: Iterable[str | os.PathLike[str]], class_names: Sequence[str]
) -> list[tuple[Path, int]]:
    """Pair each photo with the index of the class its name spells, by normalised name.

    Names that match no class, or a class name that occurs twice (``crane``, ``cardigan``,
    ``maillot``), are left out: with the shared samples, 994 of 1,000 photos pair up.
    """
    norm = [normalise_name(c) for c in class_names]
    counts = Counter(norm)
    index = {n: i for i, n in enumerate(norm) if counts[n] == 1}
    out = []
    for p in sorted(Path(p) for p in paths):
        i = index.get(normalise_name(sample_class_name(p)))
        if i is not None:
            out.append((p, i))
    return out


def file_targets(photos: Iterable[str | os.PathLike[str] | Photo], class_names: Sequence[str]) -> list[int]:
    """Class indices spelled by file names like ``n01440764_tench.JPEG`` (ImageNet samples), one per
    photo (a path or a `Photo`), matched as `match_imagenet_samples` does; a name that names no
    single class is an error."""
    out = []
    for photo in photos:
        p = photo.source if isinstance(photo, Photo) else photo
        pairs = match_imagenet_samples([p], class_names)
        if not pairs:
            raise StrokelensError(f"{p}: the file name names no single class of this model")
        out.append(pairs[0][1])
    return out
