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

from strokelens.cli.app import app, files_argument, home_option
from strokelens.cli.jobs import PROGRESS_FROM, job_options, run_with_progress
from strokelens.cli.options import (
    batch_option,
    device_option,
    fallback_option,
    learned_options,
    limit_option,
    model_options,
    parse_target,
    segments_option,
    units_option,
    weights_option,
)
from strokelens.defaults import default_method, help_text
from strokelens.errors import StrokelensError
from strokelens.kinds import PHOTO_FILES, SKETCH_FILES
from strokelens.methods import METHODS, get_method, methods_where
from strokelens.models.spec import ModelSpec
from strokelens.views.loader import ViewLoader

if TYPE_CHECKING:
    from strokelens.jobs import JobResult
    from strokelens.kinds import InputFiles

#: Explanations drawn for the report by default: a report page shows about this many.
DEFAULT_PICTURES = 50

#: What `evaluate` measures by default: the methods evaluated on the kind of files' units.
DEFAULT_EVALUATE = {
    SKETCH_FILES: ",".join(methods_where(evaluated_on="stroke")),
    PHOTO_FILES: ",".join(methods_where(evaluated_on="superpixel")),
}


def _progress(total: int) -> Progress:
    return Progress(transient=True, disable=total < PROGRESS_FROM)


def prepare(spec: ModelSpec, files, limit, device, home, segments, target):
    """The view of a model, its inputs (prepared sketches, or photo paths read batch by batch), the
    options that make their units, and the target (``file``: what the files say, see
    `InputFiles.file_targets`)."""
    view = ViewLoader(spec, home, device)()
    reader = view.kind.files
    target = parse_target(target)
    reader.check_target(target)
    inputs = view.prepare(reader.read(files, limit))
    if target == "file":
        target = reader.file_targets(inputs, view.class_names)
    return view, inputs, reader.unit_options(None, segments), target


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
@fallback_option
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
    fallback,
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

    reader = model_spec.kind().files
    method = method or default_method(model_spec.name if model_spec.shipped else None, reader, units)
    options = learned_options([method], weights, fallback)
    unit_options = reader.unit_options(units, segments)
    target = parse_target(target)
    reader.check_target(target)
    check_files(files, reader)
    loader = ViewLoader(model_spec, home, device)
    view = loader()
    if get_method(method).unit_kind(view, units) == "piece":
        unit_options["pieces_per_stroke"] = pieces
    spec = JobSpec(
        "explain",
        reader,
        model_spec.describe(),
        (method,),
        target=target,
        units=units,
        unit_options=unit_options,
        options=options,
        seed=seed,
        batch_size=batch_size or reader.batch_size("explain"),
        shard_size=job["shard_size"],
        limit=limit,
    )
    spec.check(view.class_names)
    title = f"strokelens: {method} on {model_spec.name}" + _units_title(unit_options)
    extra = dict(reader.report_fields) or None
    draw = drawer(out_dir, title, extra)
    result = run_with_progress(spec, files, out_dir, loader, job, view.kind.item, pictures, draw)
    summary = result.summary
    drawn = 0
    if not result.already_finished:
        drawn = write_pictures(result.folder, spec, view, pictures, title, extra, result.pictures)
    _echo_job(result, reader)
    if drawn:
        click.echo(f"report: {out_dir / 'report.html'} ({drawn} {reader.plural} drawn)")
    if summary["ok"] == 0:
        raise StrokelensError(f"no {view.kind.item} could be explained ({summary['skipped']} skipped)")


def _units_title(unit_options: dict) -> str:
    """``, N superpixels`` for photos (the units' count is an option), else nothing."""
    n = unit_options.get("n_segments")
    return f", {n} superpixels" if n is not None else ""


@app.command()
@files_argument
@model_options()
@click.option(
    "--methods",
    default=None,
    help="Comma-separated method names (default: "
    + ", ".join(f"{names} for {files.words}" for files, names in DEFAULT_EVALUATE.items())
    + ").",
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
@fallback_option
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
    fallback,
    limit,
    batch_size,
    job,
    device,
    home,
):
    """Score attribution methods on the drawings (or photos) in FILES: deletion/insertion AUC,
    agreement with exact Shapley values, and cost."""
    from strokelens.evaluation import evaluate as run_evaluate

    reader = model_spec.kind().files
    names = [m.strip() for m in (methods or DEFAULT_EVALUATE[reader]).split(",") if m.strip()]
    for name in names:
        get_method(name)
    options = learned_options(names, weights, fallback)
    unit_options = reader.unit_options(units, segments)
    if out_dir is None and (job["resume"] or job["backend"] != "local"):
        raise StrokelensError("--resume and --backend are for dataset jobs: give --out DIR")
    batch_size = batch_size or reader.batch_size("evaluate")
    unit_kind = units or reader.default_units
    if out_dir is not None:
        from strokelens.jobs import JobSpec
        from strokelens.jobs.plan import check_files

        check_files(files, reader)
        loader = ViewLoader(model_spec, home, device)
        view = loader()
        spec = JobSpec(
            "evaluate",
            reader,
            model_spec.describe(),
            tuple(names),
            target=parse_target(target),
            units=unit_kind,
            unit_options=unit_options,
            options=options,
            seed=seed,
            batch_size=batch_size,
            shard_size=job["shard_size"],
            limit=limit,
        )
        spec.check(view.class_names)
        result = run_with_progress(spec, files, out_dir, loader, job, view.kind.item)
        _echo_job(result, reader)
        summary = result.summary["figures"]
        count = result.summary["rows"] // len(names)
    else:
        view, inputs, unit_options, target = prepare(model_spec, files, limit, device, home, segments, target)
        if unit_kind is not None:
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
    units_title = _units_title(unit_options) or f", {unit_kind} units"
    title = f"{count} {reader.plural}, {model_spec.name}" + units_title
    _print_summary(summary, view.kind.item, title)
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _echo_job(result: JobResult, reader: InputFiles) -> None:
    """What a job did, in a few lines: rows, speed, skipped rows and their commonest reasons."""
    summary, folder = result.summary, result.folder
    if result.already_finished:
        click.echo(f"{folder.path} holds a finished job: {summary['rows']} rows, nothing left to do")
    elif result.computed_rows:
        done, many = result.computed_inputs, reader.plural
        click.echo(
            f"{done} {many} done in {result.seconds:.1f} s ({per_second(done, result.seconds)} {many}/s)"
        )
    click.echo(f"{summary['ok']} rows, {summary['skipped']} skipped: {folder.shards_dir}")
    for reason, count in list(summary["skipped_reasons"].items())[:3]:
        click.echo(f"  skipped {count}x: {reason}")


def per_second(count: int, seconds: float) -> str:
    """``count / seconds`` to three significant figures (``0.4``, ``12.3``), whole from 100 up (``1,234``)."""
    rate = count / max(seconds, 1e-9)
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


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
