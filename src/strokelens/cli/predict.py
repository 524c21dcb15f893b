"""`strokelens predict FILE...`: the top classes of a pre-trained model for every drawing or photo.

Sketch files are drawn with the model's preset (DoodleNet: the QuickDraw 28x28 bitmap recipe, through
the differentiable rasteriser); photos (``.jpg``, ``.jpeg``, ``.png``) are centre-cropped and resized
for an image model (``darknet-tiny``, chosen by default when every file is a photo).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from strokelens.cli.app import app, files_argument, home_option
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches
from strokelens.models import REGISTRY, load_model
from strokelens.sketch import Sketch

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Drawings or photos classified in one forward pass.
BATCH = 256


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_SUFFIXES


def sketch_logits(model: torch.nn.Module, sketches: list[Sketch]) -> torch.Tensor:
    """Logits of a raster-sketch model for ``sketches``, drawn with the QuickDraw bitmap preset."""
    from strokelens.datasets import batches
    from strokelens.render import QuickDrawBitmap

    render = QuickDrawBitmap(size=model.input_size)
    with torch.no_grad():
        return torch.cat([model(render(b)) for b in batches(sketches, BATCH)])


def photo_logits(model: torch.nn.Module, paths: list[Path]) -> torch.Tensor:
    """Logits of an image model for the photos at ``paths``."""
    from strokelens.models.darknet import open_image, preprocess

    out = []
    with torch.no_grad():
        for i in range(0, len(paths), BATCH):
            x = torch.stack([preprocess(open_image(p), model.input_size) for p in paths[i : i + BATCH]])
            out.append(model(x))
    return torch.cat(out)


def top_k(logits: torch.Tensor, class_names: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the ``k`` most probable classes and their softmax probabilities."""
    probs, idx = torch.softmax(logits.double(), dim=1).topk(min(k, logits.shape[1]), dim=1)
    return [
        [(class_names[i], float(p)) for i, p in zip(ri, rp, strict=True)]
        for ri, rp in zip(idx.tolist(), probs.tolist(), strict=True)
    ]


@app.command()
@files_argument
@click.option(
    "--model",
    "model_name",
    type=click.Choice(sorted(REGISTRY)),
    default=None,
    help="Model to run (default: doodlenet for sketches, darknet-tiny for photos).",
)
@click.option(
    "--top", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Classes per item."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many drawings a file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per drawing or photo.")
@home_option
def predict(
    files, model_name: str | None, k: int, limit: int | None, as_json: bool, home: Path | None
) -> None:
    """Print the top classes and probabilities of a pre-trained model for every drawing or photo."""
    photos = [is_photo(f) for f in files]
    if model_name is None:
        model_name = "darknet-tiny" if all(photos) else "doodlenet"
    model = load_model(model_name, home=home)
    kind = getattr(model, "input_kind", None)
    if kind == "image":
        not_photos = [str(f) for f, p in zip(files, photos, strict=True) if not p]
        if not_photos:
            raise StrokelensError(f"{not_photos[0]}: model {model_name} takes photos (.jpg, .jpeg, .png)")
        items = [{"source": str(f), "index": 0, "label": None} for f in files]
        logits = photo_logits(model, list(files))
    elif kind == "raster-sketch":
        if any(photos):
            bad = files[photos.index(True)]
            raise StrokelensError(f"{bad}: model {model_name} takes sketches; use --model darknet-tiny")
        sketches, items = [], []
        for f in files:
            for i, s in enumerate(read_sketches(f, limit=limit)):
                sketches.append(s)
                items.append({"source": str(f), "index": i, "label": s.label})
        logits = sketch_logits(model, sketches)
    else:
        raise StrokelensError(f"strokelens predict does not run {model_name} ({kind} input) yet")

    ranked = top_k(logits, model.class_names, k)
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
