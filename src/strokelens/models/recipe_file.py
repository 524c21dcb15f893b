"""A model file's saved input recipe: the raster rendering options `strokelens check --fit-recipe`
found, kept beside the model so that later commands draw sketches the way the model reads them.

Where: ``net.pt`` -> ``net.recipe.json`` beside it; a TF.js folder (or its ``model.json``) ->
``recipe.json`` in the folder. ``package.module:factory`` models have no file to sit beside and get
none. The file holds ``{"strokelens_recipe": 1, "input": "raster-sketch", "render": {...}, "fit":
{...}}``; ``render`` takes `strokelens.render.RasterPreset`'s arguments.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from strokelens import kinds
from strokelens.errors import StrokelensError

__all__ = ["FORMAT", "apply_saved_recipe", "read_recipe", "recipe_path", "write_recipe"]

#: Version of the recipe file's layout.
FORMAT = 1
#: The `RasterPreset` arguments a recipe may set.
RENDER_KEYS = ("size", "line_width", "padding", "centre", "ink", "background", "channels", "mean", "std")


def recipe_path(model: str | os.PathLike[str]) -> Path | None:
    """Where the recipe of the model file or folder ``model`` lives (None: not a file or folder)."""
    path = Path(model)
    if path.is_dir():
        return path / "recipe.json"
    if path.name == "model.json":
        return path.parent / "recipe.json"
    if path.is_file():
        return path.with_suffix(".recipe.json")
    return None


def read_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A recipe file's contents, checked: its input kind and only known rendering options."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StrokelensError(f"cannot read the recipe {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("strokelens_recipe") != FORMAT:
        raise StrokelensError(f'{path}: not a strokelens recipe (no "strokelens_recipe": {FORMAT})')
    render = data.get("render")
    if not isinstance(render, dict) or set(render) - set(RENDER_KEYS):
        raise StrokelensError(f'{path}: "render" must hold only {", ".join(RENDER_KEYS)}')
    kinds.parse(str(data.get("input")), among=(kinds.RASTER_SKETCH,))
    return data


def write_recipe(
    path: str | os.PathLike[str], render: dict[str, Any], fit: dict[str, Any] | None = None
) -> Path:
    """Write a raster-sketch recipe (``render``: `RasterPreset` arguments) to ``path``; returns it."""
    unknown = set(render) - set(RENDER_KEYS)
    if unknown:
        raise StrokelensError(f"unknown rendering options {', '.join(sorted(unknown))}")
    data = {"strokelens_recipe": FORMAT, "input": kinds.RASTER_SKETCH.name, "render": render}
    if fit:
        data["fit"] = fit
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def apply_saved_recipe(
    model: str, input: str | None, render: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """``(input, render)`` for loading ``model``: the saved recipe's when one sits beside the model,
    no rendering option is given and ``input`` is unset or raster-sketch (said once on stderr);
    otherwise as given. Explicit options win: given ones leave the recipe unused."""
    path = recipe_path(model)
    if path is None or not path.is_file():
        return input, render
    if input is not None and kinds.parse(input) is not kinds.RASTER_SKETCH:
        return input, render
    if render:
        print(f"strokelens: rendering options given; not using the recipe {path}", file=sys.stderr)
        return input, render
    data = read_recipe(path)
    print(f"strokelens: drawing sketches with the recipe {path}", file=sys.stderr)
    return data["input"], dict(data["render"])
