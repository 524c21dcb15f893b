"""`strokelens explain` and `strokelens evaluate`: explanations of sketch models, and how good they are."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from strokelens.attribution import METHODS, get_method
from strokelens.cli.app import app, files_argument, home_option
from strokelens.errors import StrokelensError
from strokelens.evaluation import evaluate_methods
from strokelens.io import read_sketches
from strokelens.metrics import deletion_insertion
from strokelens.models import REGISTRY, load_model
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units import make_units
from strokelens.views import preprocess, view_for
from strokelens.viz.report import write_report
from strokelens.viz.scores import explanation_png, explanation_svg

#: Show a progress bar from this many drawings on.
PROGRESS_FROM = 5


def read_all(files, limit: int | None) -> list[Sketch]:
    """All drawings of all files (at most ``limit`` per file)."""
    sketches = [s for f in files for s in read_sketches(f, limit=limit)]
    if not sketches:
        raise StrokelensError("no drawings in the given files")
    return sketches


def parse_target(target: str):
    return int(target) if target.lstrip("-").isdigit() else target


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StrokelensError(f"device {name!r} asked for, but CUDA is not available")
    return torch.device(name)


model_option = click.option(
    "--model",
    "model_name",
    type=click.Choice(sorted(REGISTRY)),
    default="doodlenet",
    show_default=True,
    help="Model to explain.",
)
device_option = click.option(
    "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present)."
)
units_option = click.option(
    "--units",
    type=click.Choice(["stroke", "piece"]),
    default=None,
    help="Units to score (default: the method's own; psla uses pieces).",
)
limit_option = click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most N drawings per file."
)
batch_option = click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)


@app.command()
@files_argument
@model_option
@click.option("--method", type=click.Choice(sorted(METHODS)), default="sla", show_default=True)
@click.option(
    "--target", default="auto", show_default=True, help="Class name, class index, or auto (predicted)."
)
@units_option
@click.option("--pieces", type=click.IntRange(min=1), default=3, show_default=True, help="Pieces per stroke.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@limit_option
@batch_option
@device_option
@home_option
def explain(files, model_name, method, target, units, pieces, out_dir, seed, limit, batch_size, device, home):
    """Explain a model's decision on every drawing in FILES; write JSONL, pictures and report.html."""
    dev = _device(device)
    model = load_model(model_name, home=home, device=dev)
    view = view_for(model)
    sketches = preprocess(read_all(files, limit), model)
    method_cls = get_method(method)
    out_dir.mkdir(parents=True, exist_ok=True)
    explanations, curves = [], []
    with Progress(transient=True, disable=len(sketches) < PROGRESS_FROM) as progress:
        task = progress.add_task(f"{method} on {len(sketches)} drawings", total=len(sketches))
        for start in range(0, len(sketches), batch_size):
            batch = SketchBatch.from_sketches(sketches[start : start + batch_size], device=dev)
            unit_set = make_units(batch, units or method_cls.default_units, pieces_per_stroke=pieces)
            expl = method_cls(view).attribute(unit_set, target=parse_target(target), seed=seed)
            explanations.append(expl)
            curves.append(deletion_insertion(view.game(unit_set, expl.target.to(dev)), expl.scores))
            progress.advance(task, len(batch))
    with open(out_dir / "explanations.jsonl", "w", encoding="utf-8") as fh:
        n = 0
        for expl in explanations:
            for i, record in enumerate(expl.records()):
                name = f"{n:04d}"
                (out_dir / f"{name}.svg").write_text(explanation_svg(expl, i), encoding="utf-8")
                explanation_png(expl, i, out_dir / f"{name}.png")
                record["image"] = f"{name}.png"
                fh.write(json.dumps(record) + "\n")
                n += 1
    report = write_report(
        out_dir / "report.html",
        {method: explanations},
        {method: curves},
        title=f"strokelens: {method} on {model_name}",
    )
    click.echo(f"{n} explanations in {out_dir / 'explanations.jsonl'}")
    click.echo(f"report: {report}")


@app.command()
@files_argument
@model_option
@click.option(
    "--methods",
    default="sla,ig,occlusion,lime,kernelshap,shapley,random,length",
    show_default=True,
    help="Comma-separated method names.",
)
@click.option("--target", default="auto", show_default=True)
@click.option("--units", type=click.Choice(["stroke", "piece"]), default="stroke", show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write per-method figures as JSON.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@limit_option
@batch_option
@device_option
@home_option
def evaluate(files, model_name, methods, target, units, json_path, seed, limit, batch_size, device, home):
    """Score attribution methods on the drawings in FILES: deletion/insertion AUC, agreement with exact
    Shapley values, and cost."""
    names = [m.strip() for m in methods.split(",") if m.strip()]
    for name in names:
        get_method(name)
    dev = _device(device)
    model = load_model(model_name, home=home, device=dev)
    view = view_for(model)
    sketches = preprocess(read_all(files, limit), model)
    with Progress(transient=True, disable=len(sketches) < PROGRESS_FROM) as progress:
        task = progress.add_task(f"{len(names)} methods on {len(sketches)} drawings", total=len(sketches))
        reports = evaluate_methods(
            view,
            sketches,
            names,
            batch_size=batch_size,
            target=parse_target(target),
            units=units,
            seed=seed,
            on_batch=lambda n: progress.advance(task, n),
        )
    summary = {name: rep.summary() for name, rep in reports.items()}
    table = Table(
        "method",
        "deletion AUC ↓",
        "insertion AUC ↑",
        "Spearman vs Shapley ↑",
        "ms / sketch",
        "evaluations / sketch",
        title=f"{len(sketches)} drawings, {model_name}, {units} units",
    )
    for name, fig in summary.items():
        table.add_row(
            name,
            f"{fig['deletion_auc']:.3f}",
            f"{fig['insertion_auc']:.3f}",
            f"{fig['spearman_vs_shapley']:.3f}",
            f"{fig['ms_per_sketch']:.2f}",
            f"{fig['evaluations_per_sketch']:.1f}",
        )
    Console().print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
