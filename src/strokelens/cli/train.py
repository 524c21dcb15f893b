"""`strokelens train stroke-transformer|completion|explainer`: train the stroke transformer, the
completion model and (`strokelens.cli.train_explainer`) learned explainers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from strokelens.cli.app import app, home_option
from strokelens.cli.options import device_option, quiet_option, threads_option
from strokelens.cli.train_explainer import explainer
from strokelens.errors import StrokelensError
from strokelens.training.stroke_transformer import DEFAULT_EPOCHS

DATASETS = ("quickdraw-spg",)
#: Sources of the drawings `train stroke-transformer --extra-repeat` mixes in, as its record names them.
EXTRA_SOURCES = {
    "quickdraw-345x25": "quickdraw-345x25 (load_qd345_spg train split)",
    "quickdraw-extra": "quickdraw-extra (SPG classes, unseen, <= {per_class} a class)",
}

#: Options the training commands share.
sketch_data_option = click.option(
    "--data",
    type=click.Choice(DATASETS),
    default="quickdraw-spg",
    show_default=True,
    help="Training data (train split; val split for model selection; test split reported).",
)


@app.group()
def train() -> None:
    """Train the models strokelens ships."""


train.add_command(explainer)


@train.command("stroke-transformer")
@sketch_data_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the weights (safetensors), config JSON and metrics.json.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=DEFAULT_EPOCHS,
    show_default=True,
    help="Training epochs.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch (default: torch's choice; 1 is faster on a busy machine).",
)
@click.option(
    "--extra-repeat",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Mix in the --extra-data drawings of the SPG classes (outside SPG) this many times each "
    "(0: SPG only, as stroke-transformer's weights were trained; 4 with both sources: "
    "stroke-transformer-mixed's); quickdraw-345x25's val drawings join model selection either way, "
    "its test drawings are reported.",
)
@click.option(
    "--extra-data",
    type=click.Choice(list(EXTRA_SOURCES)),
    multiple=True,
    default=("quickdraw-345x25",),
    show_default=True,
    help="Where the mixed-in drawings come from (repeatable): quickdraw-345x25's train split, and/or "
    "quickdraw-extra's drawings of the SPG classes (every drawing a benchmark measures on left out).",
)
@click.option(
    "--extra-per-class",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="quickdraw-extra drawings a class at most (spread over the class's file; some classes have "
    "over a thousand, most 15).",
)
@click.option(
    "--points-per-stroke",
    type=click.IntRange(min=2),
    default=16,
    show_default=True,
    help="Points each stroke is resampled to (evenly in arc length) before the model reads it.",
)
@click.option(
    "--augment",
    "augment_name",
    type=click.Choice(["varied", "basic"]),
    default="basic",
    show_default=True,
    help="basic (stroke-transformer's): rotation, scale and stroke dropout; varied "
    "(stroke-transformer-mixed's): also shear, jitter, stroke shifts, reversal and reordering, "
    "RDP-simplified copies.",
)
@click.option(
    "--teacher",
    default=None,
    help="Distil this model's soft targets over the SPG classes (a shipped model that knows them all: "
    "doodlenet) into the training, and train on --transfer-per-class drawings of its other classes "
    "too (docs/cli.md).",
)
@click.option(
    "--teacher-weight",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="With --teacher: weight of the distillation term beside the cross-entropy.",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="With --teacher: softmax temperature of the distillation term.",
)
@click.option(
    "--transfer-per-class",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="With --teacher: at most this many drawings a class of every class outside SPG, from "
    "quickdraw-extra and quickdraw-345x25's train split (held-out drawings left out), learning from "
    "the teacher alone.",
)
@click.option(
    "--teacher-sees",
    type=click.Choice(["originals", "augmented"]),
    default="originals",
    show_default=True,
    help="With --teacher: its targets for each drawing as it is (read once), or for each augmented "
    "batch as the student sees it (consistent teaching).",
)
@quiet_option
@home_option
def stroke_transformer(
    data: str,
    out_dir: Path,
    epochs: int,
    seed: int,
    batch_size: int,
    lr: float,
    threads: int | None,
    extra_repeat: int,
    extra_data: tuple[str, ...],
    extra_per_class: int,
    points_per_stroke: int,
    augment_name: str,
    teacher: str | None,
    teacher_weight: float,
    temperature: float,
    transfer_per_class: int,
    teacher_sees: str,
    quiet: bool,
    home,
) -> None:
    """Train the stroke-token classifier on SPG and report its test top-1 (SPG and quickdraw-345x25)."""
    import torch

    from strokelens.datasets import load_qd345_spg, load_spg, spg_classes
    from strokelens.models.stroke_transformer import StrokeTransformerConfig
    from strokelens.training.augment import AugmentConfig
    from strokelens.training.explainer_data import unseen_extra
    from strokelens.training.sketch_data import evaluate, prepare_sketches
    from strokelens.training.stroke_transformer import train_stroke_transformer

    if teacher is None:
        context = click.get_current_context()
        for option in ("teacher_weight", "temperature", "transfer_per_class", "teacher_sees"):
            if context.get_parameter_source(option) is not click.core.ParameterSource.DEFAULT:
                raise StrokelensError(f"--{option.replace('_', '-')} needs --teacher")
    if threads is not None:
        torch.set_num_threads(threads)
    teacher_view, transfer = _teacher(teacher, transfer_per_class, spg_classes(home), home)
    train_set, val_set, test_set = (load_spg(split, home=home) for split in ("train", "val", "test"))
    qd_train, qd_val, qd_test = (load_qd345_spg(split, home=home) for split in ("train", "val", "test"))
    sources = {
        "quickdraw-345x25": lambda: qd_train,
        "quickdraw-extra": lambda: unseen_extra(spg_classes(home), extra_per_class, home),
    }
    extra_data = tuple(dict.fromkeys(extra_data))  # each source once, however often it was named
    extra = [s for name in extra_data for s in sources[name]()] if extra_repeat else []
    trained = train_stroke_transformer(
        StrokeTransformerConfig(points_per_stroke=points_per_stroke),
        train_set,
        {"spg": val_set, "qd345": qd_val},
        epochs,
        seed,
        out_dir,
        progress=not quiet,
        batch_size=batch_size,
        lr=lr,
        augment_config=AugmentConfig() if augment_name == "varied" else AugmentConfig.basic(),
        extra_train=extra,
        extra_repeat=max(1, extra_repeat),
        teacher=teacher_view,
        transfer=transfer,
        distill_weight=teacher_weight,
        temperature=temperature,
        teacher_sees_augmented=teacher_sees == "augmented",
    )
    model, record = trained.model, trained.record
    if teacher is not None:
        record.info["distillation"]["teacher"] = teacher
    record.info["data"] = data
    named = (EXTRA_SOURCES[name].format(per_class=extra_per_class) for name in extra_data)
    record.info["extra_data"] = " + ".join(named) if extra_repeat else None
    record.info["augment_name"] = augment_name
    record.info["test_top1"] = round(evaluate(model, prepare_sketches(model, test_set)), 5)
    record.info["n_test"] = len(test_set)
    record.info["qd345_test_top1"] = round(evaluate(model, prepare_sketches(model, qd_test)), 5)
    record.info["n_qd345_test"] = len(qd_test)
    record.write(out_dir / "metrics.json")
    metrics = record.to_dict()
    keys = ("best_epoch", "best_val_top1", "test_top1", "qd345_test_top1", "wall_seconds", "cpu_seconds")
    click.echo(json.dumps({k: metrics[k] for k in keys}))


def _teacher(name: str | None, per_class: int, classes: list[str], home):
    """The teacher's view and the transfer drawings (classes outside ``classes``), or (None, [])."""
    if name is None:
        return None, []
    from strokelens.models import load_model
    from strokelens.training.explainer_data import (
        heldout_keys,
        qd345_split,
        quickdraw_extra,
        spread_per_class,
        unseen,
    )
    from strokelens.views import view_for

    view = view_for(load_model(name, home=home))
    drawings = unseen([*quickdraw_extra(home), *qd345_split("train", home=home)], heldout_keys(home))
    others = [s for s in drawings if s.label not in classes]
    return view, spread_per_class(others, per_class) if per_class else []


@train.command("completion")
@sketch_data_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for completion_spg.safetensors, completion_spg.json and completion_spg.training.json.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True, help="Most epochs.")
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop training after this much time (the cosine schedule ends there); default: no limit.",
)
@click.option("--size", type=click.IntRange(min=8), default=32, show_default=True, help="Canvas pixels.")
@click.option(
    "--channels",
    default="16,32,64,64",
    show_default=True,
    help="U-Net channels per level, comma separated (each level halves the canvas).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Train on this many training sketches (evenly spaced; val and test cut to a fifth) for a quick run.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@threads_option
@device_option
@quiet_option
@home_option
def completion(
    data: str,
    out_dir: Path,
    epochs: int,
    max_minutes: float | None,
    size: int,
    channels: str,
    batch_size: int,
    lr: float,
    limit: int | None,
    seed: int,
    threads: int | None,
    device: str | None,
    quiet: bool,
    home,
) -> None:
    """Train the sketch completion model (partial drawing in, whole drawing's ink out) on SPG; prints
    its test removed-ink IoU beside the naive baselines as JSON."""
    import time

    import torch

    from strokelens.datasets import load_spg
    from strokelens.generation import (
        CompletionData,
        StrokeInks,
        best_threshold,
        completion_iou,
        mean_raster,
        prepare_sketches,
        train_completion,
    )
    from strokelens.models.completion import WEIGHTS_NAME, CompletionConfig

    try:
        chans = tuple(int(c) for c in channels.split(","))
    except ValueError:
        raise StrokelensError(f"--channels must be integers separated by commas, got {channels!r}") from None
    config = CompletionConfig(size=size, channels=chans)
    if threads is not None:
        torch.set_num_threads(threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    train_set, val_set, test_set = (load_spg(s, home=home) for s in ("train", "val", "test"))
    if limit is not None and limit < len(train_set):
        step = len(train_set) / limit
        train_set = [train_set[int(i * step)] for i in range(limit)]
        val_set, test_set = (s[:: max(1, len(s) * 5 // limit)] for s in (val_set, test_set))
    renderer = config.renderer()
    train_inks, val_inks, test_inks = (
        StrokeInks.build(prepare_sketches(s, config), renderer) for s in (train_set, val_set, test_set)
    )
    val, test = CompletionData.make(val_inks, seed + 1), CompletionData.make(test_inks, seed + 2)
    prepare_seconds = time.perf_counter() - start
    trained = train_completion(
        config,
        train_inks,
        val,
        epochs,
        seed,
        max_minutes=max_minutes,
        batch_size=batch_size,
        lr=lr,
        device=device,
        progress=not quiet,
        log=(lambda line: click.echo(line, err=True)) if quiet else None,
    )
    model, record = trained.model, trained.record
    mean = mean_raster(train_inks)
    mean_thr, _ = best_threshold(mean.expand_as(val.full), val)
    figures = completion_iou(model, test, mean, mean_thr)
    record.info["prepare_seconds"] = round(prepare_seconds, 1)
    record.info["data"] = data
    record.info["limit"] = limit
    record.info["test"] = {"split": "test", "seed": seed + 2, "mean_raster_threshold": mean_thr, **figures}
    record.wall_seconds = round(time.perf_counter() - start, 1)  # preparing the data included
    model.save(
        out_dir,
        WEIGHTS_NAME,
        extra={"training": {"data": data, "seed": seed, "best_epoch": record.best_epoch}},
    )
    record.write(out_dir / f"{WEIGHTS_NAME}.training.json")
    record = record.to_dict()
    keys = ("epochs_run", "best_epoch", "best_val_iou", "threshold", "train_seconds", "wall_seconds")
    summary = {
        **{k: record[k] for k in keys},
        **{k: round(v, 4) for k, v in figures.items() if k != "n_sketches"},
    }
    click.echo(json.dumps(summary))
