"""`strokelens invert FILE...`: stroke location inversion, with frames, GIFs and a results JSONL.

Recovery scatters every stroke (Gaussian locations) and asks the model to put it back so that it sees
the drawing's own class; transfer moves the strokes of an intact drawing until the model sees ``--to``.
Writes, under ``--out``: ``<n>_<id>.strip.png`` / ``.strip.svg`` (frames side by side), ``<n>_<id>.gif``
(the strokes moving) and ``results.jsonl`` (one record a drawing); prints a table.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from strokelens.cli.app import app, file_stem, files_argument, home_option
from strokelens.errors import StrokelensError
from strokelens.inversion import MODES, inversion_mode, invert
from strokelens.io import read_sketches
from strokelens.models import load_model

#: Models inversion works on (it needs stroke locations to move).
INVERTIBLE = ("stroke-transformer", "doodlenet")


@app.command(name="invert")
@files_argument
@click.option(
    "--model", "model_name", type=click.Choice(INVERTIBLE), default="stroke-transformer", show_default=True
)
@click.option("--mode", type=click.Choice(MODES), default="recover", show_default=True)
@click.option("--to", "to", default=None, help="Goal class for --mode transfer (default: a random other).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many drawings a file.")
@click.option("--iterations", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.option("--max-step", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True)
@click.option("--sigma", type=click.FloatRange(min=0), default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--record-every", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--no-bound", is_flag=True, help="Let strokes leave the drawing's bounding box.")
@home_option
def invert_command(
    files,
    model_name: str,
    mode: str,
    to: str | None,
    out_dir: Path,
    limit: int | None,
    iterations: int,
    lr: float,
    max_step: float,
    sigma: float,
    seed: int,
    record_every: int,
    batch_size: int,
    no_bound: bool,
    home: Path | None,
) -> None:
    """Move only the strokes of every drawing in FILES until the model sees a class; save the frames."""
    from strokelens.viz.inversion import save_inversion

    if to is not None and not inversion_mode(mode).takes_goal:
        raise StrokelensError("--to only applies to --mode transfer")
    sketches = [s for f in files for s in read_sketches(f, limit=limit)]
    if not sketches:
        raise StrokelensError("no drawings in the given files")
    model = load_model(model_name, home=home)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    progress = Progress(transient=True, disable=len(sketches) <= batch_size)
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as jsonl, progress:
        task = progress.add_task(f"{mode} {len(sketches)} drawings", total=len(sketches))
        for lo in range(0, len(sketches), batch_size):
            chunk = sketches[lo : lo + batch_size]
            result = invert(
                model,
                chunk,
                mode=mode,
                to=to,
                iterations=iterations,
                lr=lr,
                max_step=max_step,
                sigma=sigma,
                seed=seed + lo,
                record_every=record_every,
                bound=not no_bound,
            )
            stems = [file_stem(lo + i, s.key_id) for i, s in enumerate(chunk)]
            paths = save_inversion(result, out_dir, stems)
            for rec, written in zip(result.records(), paths, strict=True):
                rec.update({"model": model_name, "files": {k: Path(v).name for k, v in written.items()}})
                jsonl.write(json.dumps(rec) + "\n")
                rows.append(rec)
            progress.advance(task, len(chunk))
    _table(rows, mode, out_dir)


def _table(rows: list[dict], mode: str, out_dir: Path) -> None:
    table = Table("#", "id", "class", "goal", "ok", "p start", "p end", "err before", "err after")
    for i, r in enumerate(rows):
        table.add_row(
            str(i),
            str(r["id"])[:18],
            r["true_class"] or "-",
            r["goal"],
            "yes" if r["success"] else "no",
            f"{r['start_prob']:.3f}",
            f"{r['final_prob']:.3f}",
            f"{r['location_error_before']:.3f}",
            f"{r['location_error_after']:.3f}",
        )
    console = Console()
    console.print(table)
    done = sum(r["success"] for r in rows)
    console.print(
        f"{done}/{len(rows)} {inversion_mode(mode).done}; frames, GIFs and results.jsonl in {out_dir}"
    )
