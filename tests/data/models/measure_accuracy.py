"""Top-1/top-5 of a model file on a folder of labelled QuickDraw ndjson files (one class a file),
drawn by the model's rendering preset (default: the QuickDraw 28x28 bitmap recipe).

    STROKELENS_HOME=../shared PYTHONPATH=src python tests/data/models/measure_accuracy.py \\
        tests/data/models/doodlenet-public/doodleNet-model.h5 ../shared/data/quickdraw-345x25
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from strokelens.games import normalise_class_name
from strokelens.io import read_sketches
from strokelens.models.wrap import load_model_file
from strokelens.sketch import SketchBatch


def main(model_path: str, folder: str) -> None:
    model = load_model_file(model_path)
    index = {normalise_class_name(c): i for i, c in enumerate(model.class_names)}
    files = sorted(Path(folder).glob("*.ndjson"))
    top1 = top5 = n = 0
    for f in files:
        sketches = list(read_sketches(f))
        if not sketches:
            continue
        y = torch.tensor([index[normalise_class_name(s.label)] for s in sketches])
        batch = SketchBatch.from_sketches([s.quickdraw_simplified() for s in sketches])
        with torch.no_grad():
            top = model(model.raster_preset(batch)).topk(5, 1).indices
        top1 += int((top[:, 0] == y).sum())
        top5 += int((top == y[:, None]).any(1).sum())
        n += len(y)
    print(f"{n} drawings of {len(files)} classes: top-1 {top1 / n:.3f}, top-5 {top5 / n:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
