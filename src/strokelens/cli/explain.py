"""`strokelens explain` and `strokelens evaluate`: thin commands over `strokelens.explain.explain`
and `strokelens.evaluation.evaluate`, for sketch models and photo models alike."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from strokelens.attribution import METHODS, get_method
from strokelens.cli.app import app, files_argument, home_option
from strokelens.cli.models import ModelSpec, model_options
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches
from strokelens.models import REGISTRY
from strokelens.sketch import Sketch

#: Show a progress bar from this many drawings on.
PROGRESS_FROM = 5

#: Default methods for sketch models and for photo models.
DEFAULT_METHOD = {"sketch": "sla", "image": "gws"}
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


def _device(name: str | None):
    import torch

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
    from strokelens.views import view_for

    model = spec.load(home=home, device=_device(device))
    view = view_for(model)
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
@weights_option
@limit_option
@batch_option
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
    seed,
    segments,
    weights,
    limit,
    batch_size,
    device,
    home,
):
    """Explain a model's decision on every drawing (or photo) in FILES; write JSONL, pictures and
    report.html."""
    from strokelens.explain import explain as run_explain
    from strokelens.explain import save_explanations

    kind = _kind(model_spec)
    method = method or DEFAULT_METHOD[kind]
    options = learned_options([method], weights).get(method, {})
    if kind == "image" and units is not None:
        raise StrokelensError("--units is for sketches; photos are explained in superpixels (--segments)")
    view, inputs, unit_options, target = prepare(model_spec, files, limit, device, home, segments, target)
    if get_method(method).unit_kind(view, units) == "piece":
        unit_options["pieces_per_stroke"] = pieces
    with _progress(len(inputs)) as progress:
        task = progress.add_task(f"{method} on {len(inputs)} inputs", total=len(inputs))
        run = run_explain(
            view,
            inputs,
            method,
            target=target,
            units=units,
            unit_options=unit_options,
            batch_size=batch_size or DEFAULT_BATCH["explain"][kind],
            seed=seed,
            options=options,
            on_batch=lambda n: progress.advance(task, n),
        )
    title = f"strokelens: {method} on {model_spec.name}"
    if kind == "image":
        title += f", {segments} superpixels"
    records = save_explanations(run, out_dir, title, {"score": "logit"} if kind == "image" else None)
    click.echo(f"{len(records)} explanations in {out_dir / 'explanations.jsonl'}")
    click.echo(f"report: {out_dir / 'report.html'}")


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
@click.option("--seed", type=int, default=0, show_default=True)
@segments_option
@weights_option
@limit_option
@batch_option
@device_option
@home_option
def evaluate(
    files,
    model_spec,
    methods,
    target,
    units,
    json_path,
    seed,
    segments,
    weights,
    limit,
    batch_size,
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
    view, inputs, unit_options, target = prepare(model_spec, files, limit, device, home, segments, target)
    if kind == "sketch":
        unit_options["kind"] = units or "stroke"
    with _progress(len(inputs)) as progress:
        task = progress.add_task(f"{len(names)} methods on {len(inputs)} inputs", total=len(inputs))
        reports = run_evaluate(
            view,
            inputs,
            names,
            batch_size=batch_size or DEFAULT_BATCH["evaluate"][kind],
            target=target,
            unit_options=unit_options,
            seed=seed,
            options=options,
            on_batch=lambda n: progress.advance(task, n),
        )
    summary = {name: rep.summary() for name, rep in reports.items()}
    per = view.item_name
    if kind == "image":
        title = f"{len(inputs)} photos, {model_spec.name}, {segments} superpixels"
    else:
        title = f"{len(inputs)} drawings, {model_spec.name}, {unit_options['kind']} units"
    _print_summary(summary, per, title)
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")


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
