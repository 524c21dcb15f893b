"""The options and the progress bar of dataset jobs (`strokelens explain` and `evaluate` with
``--out``): ``--resume``, ``--backend local|ray``, ``--workers``, ``--ray-address``, ``--shard-size``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from strokelens.jobs import JobResult, JobSpec
    from strokelens.views.loader import ViewLoader

#: Show a progress bar from this many drawings on.
PROGRESS_FROM = 5

_OPTIONS = [
    click.option(
        "--resume",
        is_flag=True,
        help="Continue the job in --out where it stopped (killed, even with kill -9), or start it.",
    ),
    click.option(
        "--backend",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="local: this process; ray: Ray Data actors, each holding the model (same rows).",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="Ray actors (--backend ray); a local Ray gets this many CPUs.",
    ),
    click.option("--ray-address", default=None, help="A running Ray cluster (default: start a local one)."),
    click.option(
        "--shard-size",
        type=click.IntRange(min=1),
        default=1000,
        show_default=True,
        help="Drawings per Parquet shard: the unit of work that --resume never redoes.",
    ),
]


def job_options(command: Callable) -> Callable:
    """Add the dataset-job options; the command gets one ``job`` dict of them."""

    @functools.wraps(command)
    def inner(*args: Any, **kwargs: Any) -> Any:
        job = {k: kwargs.pop(k) for k in ("resume", "backend", "workers", "ray_address", "shard_size")}
        return command(*args, job=job, **kwargs)

    for option in reversed(_OPTIONS):
        inner = option(inner)
    return inner


class _Rate(ProgressColumn):
    """Drawings (or photos) per second."""

    def __init__(self, per: str) -> None:
        super().__init__()
        self.per = per

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.per}/s" if speed else f"? {self.per}/s", style="progress.data.speed")


def run_with_progress(
    spec: JobSpec,
    files: Sequence[Path],
    out: Path,
    loader: ViewLoader,
    job: dict[str, Any],
    per: str,
    pictures: int = 0,
    draw: Callable | None = None,
) -> JobResult:
    """`strokelens.jobs.run_job` with a progress bar (drawings per second, time left); ``pictures``:
    the report's inputs to capture on the way, ``draw``: what draws them (see `run_job`)."""
    from strokelens.jobs import run_job

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(per),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(f"{spec.command} {', '.join(spec.methods)}", total=None)

        def on_start(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done, visible=total >= PROGRESS_FROM)

        return run_job(
            spec,
            files,
            out,
            loader,
            resume=job["resume"],
            backend=job["backend"],
            workers=job["workers"],
            ray_address=job["ray_address"],
            gpus_per_worker=1 if str(loader.device or "").startswith("cuda") else 0,
            on_start=on_start,
            on_rows=lambda n: progress.advance(task, n),
            pictures=pictures,
            draw=draw,
        )
