"""`strokelens check MODEL FILES...`: is the model fed the way it was trained?

Reads labelled drawings (or ImageNet-sample photos), prints top-1/top-5 against their labels (matched
to the model's class names by normalised name) and the labels that name no class, writes a grid PNG
of exactly what the model receives (``--out``), and warns on stderr when top-1 is near chance.
``--fit-recipe`` searches ink/background, line width, padding and size on a few of the drawings,
prints the best recipe, and saves it beside the model file, where later commands pick it up. The
work is `strokelens.recipe`'s; see docs/check.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strokelens import kinds
from strokelens.cli.app import app, home_option
from strokelens.cli.options import model_options
from strokelens.errors import StrokelensError
from strokelens.kinds import PHOTO_FILES
from strokelens.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch

    from strokelens.recipe import Accuracy, CheckResult

#: Likely causes of a near-chance score, and the options that fix them.
CAUSES = (
    "inverted ink (--ink/--background)",
    "line width (--line-width)",
    "padding (--padding)",
    "input size (--size)",
    "a class file of another model (--classes)",
)


def positional_model(command: Callable[..., Any]) -> Callable[..., Any]:
    """``check MODEL FILES...``: the first argument is the model unless ``--model`` names it."""

    @functools.wraps(command)
    def inner(*args: Any, **kwargs: Any) -> Any:
        paths = list(kwargs.pop("args"))
        if kwargs.get("model_name") is None:
            if len(paths) < 2:
                raise StrokelensError("give a model and at least one labelled file: check MODEL FILES...")
            kwargs["model_name"] = str(paths.pop(0))
            if looks_like_input(kwargs["model_name"]):
                raise StrokelensError(
                    f"{kwargs['model_name']} is a drawing or photo file; give the model first: "
                    "check MODEL FILES..."
                )
        return command(*args, files=[Path(p) for p in paths], **kwargs)

    return inner


def looks_like_input(name: str) -> bool:
    """True for a name that reads as a drawing or photo file, not a model."""
    lower = name.lower()
    return PHOTO_FILES.matches(name) or lower.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".npz", ".svg"))


def read_items(files: list[Path], photos: bool, limit: int | None) -> list[Any]:
    """The drawings of ``files`` (``limit`` a file), or the photo paths (``limit`` in all)."""
    if photos:
        return PHOTO_FILES.check_all(files)[:limit]
    return kinds.SKETCH_FILES.read(files, limit)


def warn(message: str) -> None:
    click.echo(f"strokelens: warning: {message}", err=True)


def near_chance_warning(acc: Accuracy, picture: Path, raster: bool, suggest_fit: bool) -> str:
    """The one warning line for a near-chance top-1: the figures and the likely causes (the rendering
    options only for raster-sketch models)."""
    causes = CAUSES if raster else CAUSES[-2:]
    look = f"; look at {picture}" + (", or run with --fit-recipe" if suggest_fit else "")
    return (
        f"top-1 {acc.top1:.1%} is near chance ({acc.chance:.1%}; warned below {acc.threshold:.1%}): "
        f"the model does not read these inputs as they are prepared. Likely causes: {', '.join(causes)}"
        + look
    )


@app.command()
@click.argument("args", nargs=-1, required=True, metavar="MODEL FILES...")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("check.png"),
    show_default=True,
    help="Grid PNG of what the model receives.",
)
@click.option(
    "--show", type=click.IntRange(min=1, max=256), default=32, show_default=True, help="Inputs in the PNG."
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most N drawings a file (photos: N)."
)
@click.option("--fit-recipe", is_flag=True, help="Search the raster recipe and save it beside the model.")
@click.option(
    "--fit-drawings",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Labelled drawings the recipe is fitted on (spread over the files).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@home_option
@positional_model
@model_options(default=None, help="The model (or give it as the first argument).")
def check(
    files: list[Path],
    model_spec: ModelSpec,
    out: Path,
    show: int,
    limit: int | None,
    fit_recipe: bool,
    fit_drawings: int,
    as_json: bool,
    home: Path | None,
) -> None:
    """Check that a model is fed the way it was trained: accuracy on labelled FILES, a picture of
    what it receives, a warning near chance; --fit-recipe finds and saves the raster recipe."""
    from strokelens.recipe import check_model

    if out.suffix.lower() != ".png":
        raise StrokelensError(f"--out {out}: the picture is a PNG; give a file name ending in .png")
    kind = model_spec.kind()
    if fit_recipe and kind is not kinds.RASTER_SKETCH:
        raise StrokelensError(
            f"--fit-recipe is for raster-sketch models; {model_spec.name} takes {kind.name}"
        )
    photos = kind is kinds.IMAGE
    items = read_items(files, photos, limit)
    model = model_spec.load(home=home)
    result = check_model(model, items, show=show)
    picture = write_picture(result, items, model, out)
    acc = result.accuracy
    report: dict[str, Any] = {"model": model_spec.name, **acc.as_dict(), "picture": str(out)}
    if not as_json:
        noun = PHOTO_FILES.plural if photos else kinds.SKETCH_FILES.plural
        click.echo(f"{model_spec.name} on {acc.items} {noun}: {acc.summary(noun)}")
        if acc.unmatched_labels:
            shown = ", ".join(acc.unmatched_labels[:10]) + (", ..." if len(acc.unmatched_labels) > 10 else "")
            click.echo(f"{len(acc.unmatched_labels)} labels name no class of the model: {shown}")
        click.echo(f"what the model receives: {picture}")
    if acc.top1 is None:
        names = ", ".join(model.class_names[:3])
        warn(
            f"no label names a class of the model (its classes: {names}, ...): "
            "pass its class file with --classes"
        )
    elif acc.near_chance:
        raster = kind is kinds.RASTER_SKETCH
        warn(near_chance_warning(acc, out, raster, raster and not fit_recipe))
    if fit_recipe:
        report["fit"] = fit_and_save(model_spec, model, items, fit_drawings, out, show, as_json)
    if as_json:
        click.echo(json.dumps(report))


def write_picture(result: CheckResult, items: list[Any], model: torch.nn.Module, out: Path) -> Path:
    """The grid PNG of the first inputs, captioned with label and top class."""
    from strokelens.recipe import class_targets, input_grid, input_label

    n = len(result.shown[0]) if result.shown else 0
    labels = [input_label(it) for it in items[:n]]
    top = result.logits[:n].argmax(1)
    correct = (class_targets(labels, model.class_names) == top).tolist()
    grid = input_grid(
        result.kind, result.shown, labels, [model.class_names[i] for i in top.tolist()], correct
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        grid.save(out)
    except OSError as exc:
        raise StrokelensError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def fit_and_save(
    spec: ModelSpec, model: torch.nn.Module, items: list[Any], n: int, out: Path, show: int, quiet: bool
) -> dict[str, Any]:
    """Fit the recipe on ``n`` drawings spread over ``items``, check all of them with it, save it."""
    from strokelens.models.recipe_file import recipe_path, write_recipe
    from strokelens.recipe import check_model, class_targets, fit_recipe, input_label, spread
    from strokelens.render import RasterPreset

    labels = [input_label(it) for it in items]
    matched = (class_targets(labels, model.class_names) >= 0).nonzero().flatten().tolist()
    chosen = [matched[i] for i in spread(len(matched), n)]
    fit = fit_recipe(
        model, [items[i] for i in chosen], class_targets([labels[i] for i in chosen], model.class_names)
    )
    after = check_model(model, items, show=show, renderer=RasterPreset(**fit.best))
    fitted_png = out.with_name(out.stem + "-fitted" + out.suffix)
    write_picture(after, items, model, fitted_png)
    path = None if spec.shipped else recipe_path(spec.name)
    figures = {
        "drawings": fit.drawings,
        "current_top1": fit.current_top1,
        "best_top1": fit.best_top1,
        "all_top1": after.accuracy.top1,
        "all_top5": after.accuracy.top5,
        "seconds": round(fit.seconds, 2),
    }
    if path is not None:
        write_recipe(path, fit.best, figures)
    if not quiet:
        click.echo(f"fit on {fit.drawings} drawings ({fit.tried} recipes, {fit.seconds:.1f} s):")
        click.echo(f"  current {_recipe_text(fit.current)}: top-1 {fit.current_top1:.1%}")
        click.echo(f"  best    {_recipe_text(fit.best)}: top-1 {fit.best_top1:.1%}")
        click.echo(f"with the best recipe, all {after.accuracy.summary()}; picture: {fitted_png}")
        if path is not None:
            click.echo(f"recipe saved to {path}; later commands on this model use it")
        else:
            why = (
                "a shipped model keeps its own recipe"
                if spec.shipped
                else "the model has no file to sit beside"
            )
            click.echo(f"recipe not saved ({why}); pass the options above to use it")
    return {**figures, "current": fit.current, "best": fit.best, "saved": str(path) if path else None}


def _recipe_text(recipe: dict[str, Any]) -> str:
    """``--ink 0 --background 1 --line-width 1.47 --padding 2.26 --size 28`` for a recipe."""

    def value(v: Any) -> str:
        return ",".join(f"{x:g}" for x in v) if isinstance(v, list | tuple) else f"{v:g}"

    keys = ("ink", "background", "line_width", "padding", "size")
    return " ".join(f"--{k.replace('_', '-')} {value(recipe[k])}" for k in keys)
