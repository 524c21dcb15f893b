"""`strokelens explain` and `strokelens evaluate`: thin commands over `strokelens.explain.explain`
and `strokelens.evaluation.evaluate`, for sketch models and photo models alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from strokelens.attribution import METHODS, get_method
from strokelens.cli.app import app, files_argument, home_option
from strokelens.cli.jobs import PROGRESS_FROM, job_options, run_with_progress
from strokelens.cli.models import ModelSpec, ViewLoader, model_options
from strokelens.defaults import default_method, help_text
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches
from strokelens.models import REGISTRY
from strokelens.sketch import Sketch

if TYPE_CHECKING:
    from strokelens.jobs import JobResult

#: Explanations drawn for the report by default: a report page shows about this many.
DEFAULT_PICTURES = 50

#: The learned explainers, which take --weights.
LEARNED = ("wys", "fastshap")
DEFAULT_EVALUATE = {
    "sketch": "sla,ig,occlusion,fastshap,wys,lime,kernelshap,shapley,random,length",
    "image": "gws,gws-ig,occlusion,fastshap,wys,lime,kernelshap,random",
}
#: Inputs per batch by default.
DEFAULT_BATCH = {"explain": {"sketch": 32, "image": 8}, "evaluate": {"sketch": 32, "image": 4}}


def read_all(files, limit: int | None) -> list[Sketch]:
    """All drawings of all files (at most ``limit`` per file)."""
    sketches = [s for f in files for s in read_sketches(f, limit=limit)]
    if not sketches:
        raise StrokelensError("no drawings in the given files")
    return sketches


def parse_target(target: str):
    return int(target) if target.lstrip("-").isdigit() else target


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
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="At most N drawings per file (photos: N in all).",
)
batch_option = click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Drawings (32) or photos (8) per batch."
)
weights_option = click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A trained explainer (`strokelens train explainer`) for wys/fastshap; default: the shipped one.",
)


def learned_options(methods: list[str], weights: Path | None) -> dict[str, dict[str, str]]:
    """``{method: {"weights": PATH}}`` for the learned explainers among ``methods``; --weights with no
    learned method is an error."""
    if weights is None:
        return {}
    learned = [m for m in methods if m in LEARNED]
    if not learned:
        raise StrokelensError(f"--weights is for the learned explainers ({', '.join(LEARNED)})")
    return {m: {"weights": str(weights)} for m in learned}


segments_option = click.option(
    "--segments",
    type=click.IntRange(min=2),
    default=50,
    show_default=True,
    help="SLIC superpixels per photo (photo models only).",
)


def _kind(spec: ModelSpec) -> str:
    return "image" if spec.kind() == "image" else "sketch"


def _progress(total: int) -> Progress:
    return Progress(transient=True, disable=total < PROGRESS_FROM)


def prepare(spec: ModelSpec, files, limit, device, home, segments, target):
    """The view of a model, its inputs (prepared sketches, or photo paths read batch by batch), the
    options that make their units, and the target (``file``: the class each photo's name spells)."""
    view = ViewLoader(spec, home, device)()
    target = parse_target(target)
    if _kind(spec) == "image":
        inputs = list(files)[:limit] if limit else list(files)
        if target == "file":
            from strokelens.models.darknet import file_targets

            target = file_targets(inputs, view.class_names)
        return view, inputs, {"n_segments": segments}, target
    if target == "file":
        raise StrokelensError("--target file names classes by photo file name; sketches have labels")
    return view, view.prepare(read_all(files, limit)), {}, target


@app.command()
@files_argument
@model_options()
@click.option(
    "--method",
    type=click.Choice(sorted(METHODS)),
    default=None,
    help=help_text(),
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
@click.option(
    "--pictures",
    type=click.IntRange(min=0),
    default=DEFAULT_PICTURES,
    show_default=True,
    help="Draw this many explanations (the first ones) with their curves for report.html; 0: none.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@segments_option
@weights_option
@limit_option
@batch_option
@job_options
@device_option
@home_option
def explain(
    files,
    model_spec,
    method,
    target,
    units,
    pieces,
    out_dir,
    pictures,
    seed,
    segments,
    weights,
    limit,
    batch_size,
    job,
    device,
    home,
):
    """Explain a model's decision on every drawing (or photo) in FILES: every score to Parquet shards
    in OUT/shards (resumable, local or on Ray), pictures and report.html for the first drawings."""
    from strokelens.jobs import JobSpec
    from strokelens.jobs.pictures import drawer, write_pictures
    from strokelens.jobs.plan import check_files

    kind = _kind(model_spec)
    method = method or default_method(model_spec.name if model_spec.shipped else None, kind, units)
    options = learned_options([method], weights)
    if kind == "image" and units is not None:
        raise StrokelensError("--units is for sketches; photos are explained in superpixels (--segments)")
    target = parse_target(target)
    if target == "file" and kind == "sketch":
        raise StrokelensError("--target file names classes by photo file name; sketches have labels")
    check_files(files, kind)
    loader = ViewLoader(model_spec, home, device)
    view = loader()
    unit_options = {"n_segments": segments} if kind == "image" else {}
    if get_method(method).unit_kind(view, units) == "piece":
        unit_options["pieces_per_stroke"] = pieces
    spec = JobSpec(
        "explain",
        kind,
        model_spec.describe(),
        (method,),
        target=target,
        units=units,
        unit_options=unit_options,
        options=options,
        seed=seed,
        batch_size=batch_size or DEFAULT_BATCH["explain"][kind],
        shard_size=job["shard_size"],
        limit=limit,
    )
    spec.check(view.class_names)
    title = f"strokelens: {method} on {model_spec.name}"
    if kind == "image":
        title += f", {segments} superpixels"
    extra = {"score": "logit"} if kind == "image" else None
    draw = drawer(out_dir, title, extra)
    result = run_with_progress(spec, files, out_dir, loader, job, view.item_name, pictures, draw)
    summary = result.summary
    drawn = 0
    if not result.already_finished:
        drawn = write_pictures(result.folder, spec, view, pictures, title, extra, result.pictures)
    _echo_job(result, view.item_name)
    if drawn:
        click.echo(f"report: {out_dir / 'report.html'} ({drawn} {PLURAL[view.item_name]} drawn)")
    if summary["ok"] == 0:
        raise StrokelensError(f"no {view.item_name} could be explained ({summary['skipped']} skipped)")


@app.command()
@files_argument
@model_options()
@click.option(
    "--methods",
    default=None,
    help=f"Comma-separated method names (default: {DEFAULT_EVALUATE['sketch']} for sketches, "
    f"{DEFAULT_EVALUATE['image']} for photos).",
)
@click.option("--target", default="auto", show_default=True)
@click.option("--units", type=click.Choice(["stroke", "piece"]), default=None, help="Sketch units (stroke).")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write per-method figures as JSON.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also keep every drawing's figures: Parquet shards and summary.json in this folder "
    "(resumable, local or on Ray); without it, figures are computed in memory.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@segments_option
@weights_option
@limit_option
@batch_option
@job_options
@device_option
@home_option
def evaluate(
    files,
    model_spec,
    methods,
    target,
    units,
    json_path,
    out_dir,
    seed,
    segments,
    weights,
    limit,
    batch_size,
    job,
    device,
    home,
):
    """Score attribution methods on the drawings (or photos) in FILES: deletion/insertion AUC,
    agreement with exact Shapley values, and cost."""
    from strokelens.evaluation import evaluate as run_evaluate

    kind = _kind(model_spec)
    names = [m.strip() for m in (methods or DEFAULT_EVALUATE[kind]).split(",") if m.strip()]
    for name in names:
        get_method(name)
    options = learned_options(names, weights)
    if kind == "image" and units is not None:
        raise StrokelensError("--units is for sketches; photos are evaluated in superpixels (--segments)")
    if out_dir is None and (job["resume"] or job["backend"] != "local"):
        raise StrokelensError("--resume and --backend are for dataset jobs: give --out DIR")
    batch_size = batch_size or DEFAULT_BATCH["evaluate"][kind]
    unit_kind = units or "stroke" if kind == "sketch" else None
    if out_dir is not None:
        from strokelens.jobs import JobSpec
        from strokelens.jobs.plan import check_files

        check_files(files, kind)
        loader = ViewLoader(model_spec, home, device)
        view = loader()
        spec = JobSpec(
            "evaluate",
            kind,
            model_spec.describe(),
            tuple(names),
            target=parse_target(target),
            units=unit_kind,
            unit_options={"n_segments": segments} if kind == "image" else {},
            options=options,
            seed=seed,
            batch_size=batch_size,
            shard_size=job["shard_size"],
            limit=limit,
        )
        spec.check(view.class_names)
        result = run_with_progress(spec, files, out_dir, loader, job, view.item_name)
        _echo_job(result, view.item_name)
        summary = result.summary["figures"]
        count = result.summary["rows"] // len(names)
    else:
        view, inputs, unit_options, target = prepare(model_spec, files, limit, device, home, segments, target)
        if kind == "sketch":
            unit_options["kind"] = unit_kind
        with _progress(len(inputs)) as progress:
            task = progress.add_task(f"{len(names)} methods on {len(inputs)} inputs", total=len(inputs))
            reports = run_evaluate(
                view,
                inputs,
                names,
                batch_size=batch_size,
                target=target,
                unit_options=unit_options,
                seed=seed,
                options=options,
                on_batch=lambda n: progress.advance(task, n),
            )
        summary = {name: rep.summary() for name, rep in reports.items()}
        count = len(inputs)
    per = view.item_name
    if kind == "image":
        title = f"{count} photos, {model_spec.name}, {segments} superpixels"
    else:
        title = f"{count} drawings, {model_spec.name}, {unit_kind} units"
    _print_summary(summary, per, title)
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")


#: What one input is called in messages, by the view's ``item_name``.
PLURAL = {"sketch": "drawings", "image": "photos"}


def _echo_job(result: JobResult, per: str) -> None:
    """What a job did, in a few lines: rows, speed, skipped rows and their commonest reasons."""
    summary, folder = result.summary, result.folder
    if result.already_finished:
        click.echo(f"{folder.path} holds a finished job: {summary['rows']} rows, nothing left to do")
    elif result.computed_rows:
        done, many = result.computed_inputs, PLURAL.get(per, per)
        rate = done / max(result.seconds, 1e-9)
        click.echo(f"{done} {many} done in {result.seconds:.1f} s ({rate:,.0f} {many}/s)")
    click.echo(f"{summary['ok']} rows, {summary['skipped']} skipped: {folder.shards_dir}")
    for reason, count in list(summary["skipped_reasons"].items())[:3]:
        click.echo(f"  skipped {count}x: {reason}")


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
