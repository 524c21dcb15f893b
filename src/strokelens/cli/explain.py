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
from strokelens.models import INPUT_KINDS, REGISTRY, load_model
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units import make_units
from strokelens.views import preprocess, view_for
from strokelens.viz.report import write_report
from strokelens.viz.scores import explanation_png, explanation_svg

#: Show a progress bar from this many drawings on.
PROGRESS_FROM = 5

#: Default methods for sketch models and for photo models.
DEFAULT_METHOD = {"sketch": "sla", "image": "gws"}
DEFAULT_EVALUATE = {
    "sketch": "sla,ig,occlusion,lime,kernelshap,shapley,random,length",
    "image": "gws,gws-ig,occlusion,lime,kernelshap,random",
}


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
batch_option = click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Drawings (32) or photos (8) per batch."
)
segments_option = click.option(
    "--segments",
    type=click.IntRange(min=2),
    default=50,
    show_default=True,
    help="SLIC superpixels per photo (photo models only).",
)


def _kind(model_name: str) -> str:
    return "image" if INPUT_KINDS.get(model_name) == "image" else "sketch"


def _progress(total: int) -> Progress:
    return Progress(transient=True, disable=total < PROGRESS_FROM)


@app.command()
@files_argument
@model_option
@click.option(
    "--method",
    type=click.Choice(sorted(METHODS)),
    default=None,
    help="Default: sla (sketches), gws (photos).",
)
@click.option(
    "--target",
    default="auto",
    show_default=True,
    help="Class name, class index, auto (predicted), or file (photos: the class the file name spells).",
)
@units_option
@click.option("--pieces", type=click.IntRange(min=1), default=3, show_default=True, help="Pieces per stroke.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@segments_option
@limit_option
@batch_option
@device_option
@home_option
def explain(
    files, model_name, method, target, units, pieces, out_dir, seed, segments, limit, batch_size, device, home
):
    """Explain a model's decision on every drawing (or photo) in FILES; write JSONL, pictures and
    report.html."""
    dev = _device(device)
    method = method or DEFAULT_METHOD[_kind(model_name)]
    if _kind(model_name) == "image":
        _explain_photos(
            files, model_name, method, target, out_dir, seed, segments, limit, batch_size, dev, home
        )
        return
    batch_size = batch_size or 32
    view, sketches = _sketch_view(model_name, files, limit, dev, home)
    method_cls = get_method(method)
    out_dir.mkdir(parents=True, exist_ok=True)
    explanations, curves = [], []
    with _progress(len(sketches)) as progress:
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
    default=None,
    help=f"Comma-separated method names (default: {DEFAULT_EVALUATE['sketch']} for sketches, "
    f"{DEFAULT_EVALUATE['image']} for photos).",
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
@segments_option
@limit_option
@batch_option
@device_option
@home_option
def evaluate(
    files, model_name, methods, target, units, json_path, seed, segments, limit, batch_size, device, home
):
    """Score attribution methods on the drawings (or photos) in FILES: deletion/insertion AUC,
    agreement with exact Shapley values, and cost."""
    kind = _kind(model_name)
    names = [m.strip() for m in (methods or DEFAULT_EVALUATE[kind]).split(",") if m.strip()]
    for name in names:
        get_method(name)
    dev = _device(device)
    if kind == "image":
        _evaluate_photos(
            files, model_name, names, target, json_path, seed, segments, limit, batch_size, dev, home
        )
        return
    batch_size = batch_size or 32
    view, sketches = _sketch_view(model_name, files, limit, dev, home)
    with _progress(len(sketches)) as progress:
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
    _print_summary(summary, "sketch", f"{len(sketches)} drawings, {model_name}, {units} units")
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _sketch_view(model_name, files, limit, dev, home):
    """The view of a sketch model and the drawings of ``files``, prepared as the model expects."""
    model = load_model(model_name, home=home, device=dev)
    return view_for(model), preprocess(read_all(files, limit), model)


def _with_progress(files, limit, what: str, run):
    """``run(files, on_batch)`` over the first ``limit`` photos of ``files``, with a progress bar."""
    files = list(files)[:limit] if limit else list(files)
    with _progress(len(files)) as progress:
        task = progress.add_task(f"{what} on {len(files)} photos", total=len(files))
        return files, run(files, lambda n: progress.advance(task, n))


def _explain_photos(files, model_name, method, target, out_dir, seed, segments, limit, batch_size, dev, home):
    from strokelens.cli.photos import explain_photos

    _, records = _with_progress(
        files,
        limit,
        method,
        lambda photos, on_batch: explain_photos(
            photos,
            model_name=model_name,
            method=method,
            target=target,
            segments=segments,
            out_dir=out_dir,
            seed=seed,
            home=home,
            device=dev,
            batch_size=batch_size or 8,
            on_batch=on_batch,
        ),
    )
    click.echo(f"{len(records)} explanations in {out_dir / 'explanations.jsonl'}")
    click.echo(f"report: {out_dir / 'report.html'}")


def _evaluate_photos(
    files, model_name, names, target, json_path, seed, segments, limit, batch_size, dev, home
):
    from strokelens.cli.photos import evaluate_photos

    files, summary = _with_progress(
        files,
        limit,
        f"{len(names)} methods",
        lambda photos, on_batch: evaluate_photos(
            photos,
            model_name=model_name,
            methods=names,
            target=target,
            segments=segments,
            json_path=json_path,
            seed=seed,
            home=home,
            device=dev,
            batch_size=batch_size or 4,
            on_batch=on_batch,
        ),
    )
    _print_summary(summary, "image", f"{len(files)} photos, {model_name}, {segments} superpixels")


def _print_summary(summary: dict[str, dict[str, float]], per: str, title: str) -> None:
    """One row per method: the figures `evaluate` reports, ``per`` sketch or image."""
    table = Table(
        "method",
        "deletion AUC ↓",
        "insertion AUC ↑",
        "Spearman vs Shapley ↑",
        f"ms / {per}",
        f"evaluations / {per}",
        title=title,
    )
    for name, fig in summary.items():
        table.add_row(
            name,
            f"{fig['deletion_auc']:.3f}",
            f"{fig['insertion_auc']:.3f}",
            f"{fig['spearman_vs_shapley']:.3f}",
            f"{fig[f'ms_per_{per}']:.2f}",
            f"{fig[f'evaluations_per_{per}']:.1f}",
        )
    Console().print(table)
