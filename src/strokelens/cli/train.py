"""`strokelens train stroke-transformer --data quickdraw-spg --out DIR`: train the stroke transformer."""

from __future__ import annotations

import json
from pathlib import Path

import click

from strokelens import kinds
from strokelens.cli.app import app, home_option
from strokelens.kinds import PHOTO_FILES, SKETCH_FILES
from strokelens.methods import learned_methods
from strokelens.models import REGISTRY
from strokelens.training.stroke_transformer import DEFAULT_EPOCHS

DATASETS = ("quickdraw-spg",)

#: Options the training commands share.
sketch_data_option = click.option(
    "--data",
    type=click.Choice(DATASETS),
    default="quickdraw-spg",
    show_default=True,
    help="Training data (train split; val split for model selection; test split reported).",
)
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch."
)
device_option = click.option(
    "--device", default=None, help="Torch device (default: cuda when available, else cpu)."
)
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")


@app.group()
def train() -> None:
    """Train the models strokelens ships."""


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
    help="Mix in quickdraw-345x25's train drawings of the SPG classes (outside SPG) this many times "
    "each (0: SPG only, as stroke-transformer's weights were trained; 32: stroke-transformer-mixed's); "
    "their val drawings join model selection "
    "either way, their test drawings are reported.",
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
    augment_name: str,
    quiet: bool,
    home,
) -> None:
    """Train the stroke-token classifier on SPG and report its test top-1 (SPG and quickdraw-345x25)."""
    import torch

    from strokelens.datasets import load_qd345_spg, load_spg
    from strokelens.models.stroke_transformer import StrokeTransformerConfig
    from strokelens.training.augment import AugmentConfig
    from strokelens.training.sketch_data import evaluate, prepare_sketches
    from strokelens.training.stroke_transformer import train_stroke_transformer

    if threads is not None:
        torch.set_num_threads(threads)
    train_set, val_set, test_set = (load_spg(split, home=home) for split in ("train", "val", "test"))
    qd_train, qd_val, qd_test = (load_qd345_spg(split, home=home) for split in ("train", "val", "test"))
    trained = train_stroke_transformer(
        StrokeTransformerConfig(),
        train_set,
        {"spg": val_set, "qd345": qd_val},
        epochs,
        seed,
        out_dir,
        progress=not quiet,
        batch_size=batch_size,
        lr=lr,
        augment_config=AugmentConfig() if augment_name == "varied" else AugmentConfig.basic(),
        extra_train=qd_train if extra_repeat else (),
        extra_repeat=max(1, extra_repeat),
    )
    model, record = trained.model, trained.record
    record.info["data"] = data
    record.info["extra_data"] = "quickdraw-345x25 (load_qd345_spg train split)" if extra_repeat else None
    record.info["augment_name"] = augment_name
    record.info["test_top1"] = round(evaluate(model, prepare_sketches(model, test_set)), 5)
    record.info["n_test"] = len(test_set)
    record.info["qd345_test_top1"] = round(evaluate(model, prepare_sketches(model, qd_test)), 5)
    record.info["n_qd345_test"] = len(qd_test)
    record.write(out_dir / "metrics.json")
    metrics = record.to_dict()
    keys = ("best_epoch", "best_val_top1", "test_top1", "qd345_test_top1", "wall_seconds", "cpu_seconds")
    click.echo(json.dumps({k: metrics[k] for k in keys}))


#: The data sets learned explainers train on, and the kind of files each holds.
EXPLAINER_DATA = {"quickdraw-spg": SKETCH_FILES, "imagenet-samples": PHOTO_FILES}


@train.command("explainer")
@click.option(
    "--model",
    "model_name",
    type=click.Choice(sorted(REGISTRY)),
    required=True,
    help="The frozen model to explain.",
)
@click.option(
    "--kind", type=click.Choice(learned_methods()), required=True, help="Mask or Shapley explainer."
)
@click.option(
    "--data",
    type=click.Choice(sorted(EXPLAINER_DATA)),
    default=None,
    help="Training inputs (train split; val split for early stopping). Default: quickdraw-spg for "
    "sketch models, imagenet-samples for photo models. Labels are the model's own predictions.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for MODEL_KIND.safetensors, MODEL_KIND.json and MODEL_KIND.training.json.",
)
@click.option(
    "--units", type=click.Choice(["stroke", "piece"]), default=None, help="Sketch units (default: stroke)."
)
@click.option(
    "--score",
    type=click.Choice(["logit", "prob", "log-prob"]),
    default="logit",
    show_default=True,
    help="Score space of the fastshap values.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Most epochs.")
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Stop after this many epochs without a better validation loss.",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=18.0,
    show_default=True,
    help="Stop at the step that passes this much training time (the cosine schedule ends there).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Default: 64 (sketches), 16 (photos)."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-3,
    show_default=True,
    help="Peak learning rate (cosine to 0 over the epochs or --max-minutes).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Train on this many training inputs (evenly spaced) for a quick run.",
)
@click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=None,
    help="fastshap: kernel coalition pairs per input and step. Default: 8 (sketches), 4 (photos, where "
    "each one is a full Tiny Darknet pass).",
)
@click.option(
    "--area-weight",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="wys: weight lambda_a of the area bound (the paper's default is 1).",
)
@click.option(
    "--min-area", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="wys: area bound."
)
@click.option(
    "--max-area", type=click.FloatRange(0, 1), default=0.3, show_default=True, help="wys: area bound."
)
@click.option("--seed", type=int, default=0, show_default=True)
@threads_option
@device_option
@quiet_option
@home_option
def explainer(
    model_name: str,
    kind: str,
    data: str | None,
    out_dir: Path,
    units: str | None,
    score: str,
    epochs: int,
    patience: int,
    max_minutes: float,
    batch_size: int | None,
    lr: float,
    limit: int | None,
    pairs: int | None,
    area_weight: float,
    min_area: float,
    max_area: float,
    seed: int,
    threads: int | None,
    device: str | None,
    quiet: bool,
    home,
) -> None:
    """Train a wys or fastshap explainer for a frozen model; prints the training summary as JSON."""
    import torch

    from strokelens.datasets import load_spg, photo_split
    from strokelens.errors import StrokelensError
    from strokelens.explainers import Explainer, TrainConfig, train_explainer
    from strokelens.explainers.objectives import WysWeights
    from strokelens.io.photos import load_photos
    from strokelens.models import INPUT_KINDS, load_model
    from strokelens.views import view_for

    if threads is not None:
        torch.set_num_threads(threads)
    input_kind = kinds.parse(INPUT_KINDS[model_name])
    files, photos = input_kind.files, not input_kind.sketches
    data = data or next(name for name, held in EXPLAINER_DATA.items() if held is files)
    if EXPLAINER_DATA[data] is not files:
        raise StrokelensError(f"--data {data} does not fit {model_name}, a {INPUT_KINDS[model_name]} model")
    if photos and units is not None:
        raise StrokelensError("--units is for sketch models; photo explainers score superpixels")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(model_name, home=home, device=device)
    view = view_for(model)
    if photos:
        train_set, val_set = (load_photos(photo_split(s, home)) for s in ("train", "val"))
    else:
        train_set, val_set = (load_spg(s, home=home) for s in ("train", "val"))
    if limit is not None and limit < len(train_set):
        step = len(train_set) / limit
        train_set = [train_set[int(i * step)] for i in range(limit)]
        val_set = val_set[: max(1, limit // 5)]
    made = Explainer.create(view, kind, model_name, units=units, score=score)
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size or (16 if photos else 64),
        lr=lr,
        patience=patience,
        seed=seed,
        max_minutes=max_minutes,
        pairs=pairs or (4 if photos else 8),
        wys=WysWeights(area=area_weight, min_area=min_area, max_area=max_area),
    )
    record = train_explainer(view, made, train_set, val_set, config, progress=not quiet)
    made.info.training.update({"data": data, "train_split": "train", "val_split": "val", "limit": limit})
    name = f"{model_name}_{kind}" + (f"_{units}" if units and units != "stroke" else "")
    made.save(out_dir, name)
    (out_dir / f"{name}.training.json").write_text(json.dumps(made.info.training, indent=2) + "\n")
    summary = {
        "weights": str(out_dir / f"{name}.safetensors"),
        "epochs_run": record.epochs_run,
        "best_epoch": record.best_epoch,
        "best_val_loss": None if record.best_score is None else round(record.best_score, 5),
        "stopped": record.stopped,
        "wall_seconds": record.wall_seconds,
    }
    click.echo(json.dumps(summary))


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
    from strokelens.errors import StrokelensError
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
