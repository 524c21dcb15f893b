"""`strokelens analyse FILE...`: how much a sketch model relies on the shape, order and location of
strokes (after SketchXAI), a thin command over `strokelens.analysis.analyse`.

Prints a table (each component: top-1 with it disturbed on its own, the drop from intact, its mean
Shapley share and value per drawing; "n/a" for a component the model does not read, such as order
for a raster model) and, with ``--json``, writes the summary and one record a drawing.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from strokelens.cli.app import app, files_argument, home_option
from strokelens.cli.options import device_option, model_options, read_all
from strokelens.errors import StrokelensError
from strokelens.models.spec import ModelSpec, resolve_device
from strokelens.scores import SCORES


@app.command(name="analyse")
@files_argument
@model_options(default="stroke-transformer", help="Model to analyse (a sketch model).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N drawings per file.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="First seed.")
@click.option(
    "--seeds",
    "n_seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Average over this many disturbance seeds (--seed, --seed + 1, ...).",
)
@click.option(
    "--sigma",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="Location noise, as a fraction of the drawing's longer side (the inversion's start).",
)
@click.option(
    "--score",
    type=click.Choice(SCORES),
    default="log-prob",
    show_default=True,
    help="The label's score the Shapley values split.",
)
@click.option(
    "--label-classes",
    is_flag=True,
    help="Take the arg-max and scores over the classes the drawings are labelled with only "
    "(e.g. the 20 SPG classes among DoodleNet's 345).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@device_option
@home_option
def analyse_command(
    files,
    model_spec: ModelSpec,
    limit: int | None,
    seed: int,
    n_seeds: int,
    sigma: float,
    score: str,
    label_classes: bool,
    json_path: Path | None,
    batch_size: int,
    device: str | None,
    home: Path | None,
) -> None:
    """How much a sketch model relies on the shape, order and location of the strokes in FILES:
    accuracy with each disturbed on its own, and each one's Shapley share per drawing."""
    from strokelens.analysis import analyse, drawing_labels

    if not model_spec.kind().sketches:
        raise StrokelensError(f"model {model_spec.name} takes photos; the analysis needs a sketch model")
    sketches = read_all(files, limit)
    model = model_spec.load(home=home, device=resolve_device(device))
    labels = drawing_labels(sketches, model.class_names)  # before any work: every drawing labelled
    classes = sorted(set(labels)) if label_classes else None
    result = analyse(
        model,
        sketches,
        labels,
        seeds=range(seed, seed + n_seeds),
        sigma=sigma,
        classes=classes,
        score=score,
        batch_size=batch_size,
    )
    summary = {"model": model_spec.name, **result.summary()}
    _table(result, summary)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {**summary, "drawings": result.records()}
        json_path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        Console().print(f"summary and {len(result)} drawing records in {json_path}", highlight=False)


def _table(result, summary: dict) -> None:
    seeds = summary["seeds"]
    among = f"{len(summary['classes'])} classes" if summary["classes"] else "all classes"
    title = (
        f"{summary['model']}: {summary['n']} drawings, {len(seeds)} seed(s), sigma {summary['sigma']}, "
        f"{summary['score']} of the label over {among}"
    )
    table = Table(
        "component",
        "top-1 disturbed",
        "drop",
        "mean Shapley share",
        f"mean Shapley ({summary['score']})",
        title=title,
    )
    acc, drop = summary["accuracy"], summary["drop"]
    share, phi = summary["mean_share"], summary["mean_shapley"]
    table.add_row("intact", f"{acc['intact']:.3f}", "-", "-", "-")
    missing = []
    for name in summary["components"]:
        if name not in result.applicable:
            missing.append(name)
            table.add_row(name, "n/a", "n/a", "n/a", "n/a")
            continue
        table.add_row(
            name, f"{acc[name]:.3f}", f"{drop[name]:+.3f}", f"{share[name]:.3f}", f"{phi[name]:+.3f}"
        )
    console = Console()
    console.print(table)
    for name in missing:
        why = (
            "n/a for raster models: they see ink, not the order strokes were drawn in"
            if name == "order"
            else "n/a: the model does not read it"
        )
        console.print(f"{name}: {why}", highlight=False, soft_wrap=True)
    console.print(
        f"shares: |phi| / sum |phi| per drawing; Shapley values sum to the score intact minus all "
        f"disturbed (mean {summary['mean_full_minus_empty']:+.3f})",
        highlight=False,
        soft_wrap=True,
    )
