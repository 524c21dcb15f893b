"""`strokelens predict FILE...`: the top classes of a pre-trained model for every drawing or photo.

Every shipped model runs: a raster sketch model (DoodleNet) sees each drawing drawn with the QuickDraw
28x28 bitmap recipe, through the differentiable rasteriser; a vector sketch model (the stroke
transformer) takes the strokes themselves, every stroke present; photos (``.jpg``, ``.jpeg``,
``.png``) are centre-cropped and resized for an image model (``darknet-tiny``, chosen by default when
every file is a photo). PyTorch is imported when the command runs, not for ``--help``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from strokelens import kinds
from strokelens.cli.app import app, files_argument, home_option
from strokelens.cli.options import model_options
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches
from strokelens.kinds import PHOTO_FILES, InputKind
from strokelens.models.spec import ModelSpec
from strokelens.sketch import Sketch

if TYPE_CHECKING:
    import torch

PHOTO_SUFFIXES = PHOTO_FILES.suffixes
#: Drawings or photos classified in one forward pass.
BATCH = 256


def is_photo(path: Path) -> bool:
    return PHOTO_FILES.matches(path)


def sketch_logits(model: torch.nn.Module, sketches: list[Sketch]) -> torch.Tensor:
    """Logits of a sketch model for ``sketches``.

    Raster models see them drawn with the QuickDraw bitmap preset; vector models take the strokes
    (`StrokeTransformer.classify`: its own normalised frame, every stroke present).
    """
    import torch

    from strokelens.datasets import batches

    kind = kinds.of(model)
    if kind is kinds.RASTER_SKETCH:
        from strokelens.render import QuickDrawBitmap

        render = getattr(model, "raster_preset", None) or QuickDrawBitmap(size=model.input_size)
        forward = lambda b: model(render(b))  # noqa: E731
    elif kind is kinds.VECTOR_SKETCH:
        forward = model.classify
    else:
        raise StrokelensError(f"{type(model).__name__} ({kind} input) does not take sketches")
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([forward(b) for b in batches(sketches, BATCH, device=device)]).cpu()


def photo_logits(model: torch.nn.Module, paths: list[Path]) -> torch.Tensor:
    """Logits of an image model for the photos at ``paths``."""
    import torch

    from strokelens.io.photos import open_image
    from strokelens.models.darknet import preprocess

    out = []
    with torch.no_grad():
        for i in range(0, len(paths), BATCH):
            x = torch.stack([preprocess(open_image(p), model.input_size) for p in paths[i : i + BATCH]])
            out.append(model(x))
    return torch.cat(out)


def top_k(logits: torch.Tensor, class_names: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the ``k`` most probable classes and their softmax probabilities."""
    import torch

    probs, idx = torch.softmax(logits.double(), dim=1).topk(min(k, logits.shape[1]), dim=1)
    return [
        [(class_names[i], float(p)) for i, p in zip(ri, rp, strict=True)]
        for ri, rp in zip(idx.tolist(), probs.tolist(), strict=True)
    ]


@app.command()
@files_argument
@model_options(
    default=None,
    help="Model to run (default: doodlenet, or darknet-tiny when every file is a photo).",
)
@click.option(
    "--top", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Classes per item."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many drawings a file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per drawing or photo.")
@home_option
def predict(
    files, model_spec: ModelSpec | None, k: int, limit: int | None, as_json: bool, home: Path | None
) -> None:
    """Print the top classes of a model (a shipped one or your own) for every drawing or photo."""
    photos = [is_photo(f) for f in files]
    if model_spec is None:
        model_spec = ModelSpec("darknet-tiny" if all(photos) else "doodlenet")
    model_name = model_spec.name
    # Check the files against a shipped model before loading it (and PyTorch).
    kind = model_spec.kind()
    if not kind.sketches:
        not_photos = [str(f) for f, p in zip(files, photos, strict=True) if not p]
        if not_photos:
            raise StrokelensError(f"{not_photos[0]}: model {model_name} takes photos (.jpg, .jpeg, .png)")
        PHOTO_FILES.check_all(files)
        items = [{"source": str(f), "index": 0, "label": None} for f in files]
        model = model_spec.load(home=home)
        logits = photo_logits(model, list(files))
    else:
        if any(photos):
            bad = files[photos.index(True)]
            raise StrokelensError(f"{bad}: model {model_name} takes sketches; use --model darknet-tiny")
        sketches, items = [], []
        for f in files:
            for i, s in enumerate(read_sketches(f, limit=limit)):
                sketches.append(s)
                items.append({"source": str(f), "index": i, "label": s.label})
        if not sketches:
            raise StrokelensError("no drawings in the given files")
        model = model_spec.load(home=home)
        logits = sketch_logits(model, sketches)

    ranked = top_k(logits, model.class_names, k)
    from strokelens.games import normalise_class_name  # PyTorch is loaded by now

    # a drawing's label in the model's spelling (``ice cream`` -> ``ice_cream``), as its classes print
    spelling = {normalise_class_name(c): c for c in model.class_names}
    for item in items:
        if item["label"]:
            item["label"] = spelling.get(normalise_class_name(item["label"]), item["label"])
    if as_json:
        for item, top in zip(items, ranked, strict=True):
            top_json = [{"class": c, "probability": round(p, 6)} for c, p in top]
            click.echo(json.dumps({**item, "model": model_name, "top": top_json}))
        return
    console = Console()
    for item, top in zip(items, ranked, strict=True):
        title = f"{item['source']} #{item['index']}" + (f" ({item['label']})" if item["label"] else "")
        table = Table("rank", "class", "probability")
        for r, (c, p) in enumerate(top, 1):
            table.add_row(str(r), c, f"{p:.3f}")
        console.print(title, highlight=False, markup=False, soft_wrap=True)
        console.print(table)
    print_accuracy(console, logits, items, model.class_names, kind)


def print_accuracy(
    console: Console, logits: torch.Tensor, items: list[dict], class_names: list[str], kind: InputKind
) -> None:
    """End with top-1/top-5 against the labels (drawings' words, ImageNet-sample photo names), if any."""
    from strokelens.recipe import accuracy, input_label

    labels = [item["label"] or input_label(Path(item["source"])) for item in items]
    acc = accuracy(logits, labels, class_names)
    if acc.unlabelled < acc.items:
        noun = kinds.SKETCH_FILES.plural if kind.sketches else PHOTO_FILES.plural
        console.print(f"accuracy: {acc.summary(noun)}", highlight=False, markup=False, soft_wrap=True)
