"""`strokelens train stroke-transformer --data quickdraw-spg --out DIR`: train the stroke transformer."""

from __future__ import annotations

import json
from pathlib import Path

import click

from strokelens.cli.app import app, home_option

DATASETS = ("quickdraw-spg",)


@app.group()
def train() -> None:
    """Train the models strokelens ships."""


@train.command("stroke-transformer")
@click.option(
    "--data",
    type=click.Choice(DATASETS),
    default="quickdraw-spg",
    show_default=True,
    help="Training data (train split; val split for model selection; test split reported).",
)
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
    default=None,
    help="Training epochs (default: the config's recommended count).",
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
@click.option("--quiet", is_flag=True, help="No progress bar.")
@home_option
def stroke_transformer(
    data: str,
    out_dir: Path,
    epochs: int | None,
    seed: int,
    batch_size: int,
    lr: float,
    threads: int | None,
    quiet: bool,
    home,
) -> None:
    """Train the stroke-token classifier on SPG and report its test top-1."""
    import torch

    from strokelens.datasets import load_spg
    from strokelens.models.stroke_transformer import StrokeTransformerConfig
    from strokelens.training import (
        DEFAULT_EPOCHS,
        evaluate,
        prepare_sketches,
        train_stroke_transformer,
        write_metrics,
    )

    if threads is not None:
        torch.set_num_threads(threads)
    train_set, val_set, test_set = (load_spg(split, home=home) for split in ("train", "val", "test"))
    metrics = train_stroke_transformer(
        StrokeTransformerConfig(),
        train_set,
        val_set,
        epochs or DEFAULT_EPOCHS,
        seed,
        out_dir,
        progress=not quiet,
        batch_size=batch_size,
        lr=lr,
    )
    model = metrics.pop("model")
    metrics["data"] = data
    metrics["test_top1"] = round(evaluate(model, prepare_sketches(model, test_set)), 5)
    metrics["n_test"] = len(test_set)
    write_metrics(out_dir / "metrics.json", metrics)
    summary = {k: metrics[k] for k in ("best_epoch", "best_val_top1", "test_top1", "wall_seconds")}
    click.echo(json.dumps(summary))
