"""`strokelens info FILE...`: strokes, points, bounding box and class of every drawing."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from strokelens.cli.app import app, files_argument
from strokelens.io import read_sketches
from strokelens.sketch import Sketch


def summary(sketch: Sketch) -> dict:
    """A JSON-ready summary of one sketch."""
    return {
        "source": sketch.source,
        "class": sketch.label,
        "key_id": sketch.key_id,
        "strokes": sketch.n_strokes,
        "points": sketch.n_points,
        "bbox": [round(v, 3) for v in sketch.bbox()],
        "parts": sketch.part_names,
    }


@app.command()
@files_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object a drawing.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many drawings a file.")
def info(files, as_json: bool, limit: int | None) -> None:
    """Print strokes, points, bounding box and class of every drawing in FILES."""
    rows = [summary(s) for f in files for s in read_sketches(f, limit=limit)]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = Table("source", "class", "strokes", "points", "bbox")
    for row in rows:
        bbox = " ".join(f"{v:g}" for v in row["bbox"])
        table.add_row(row["source"], row["class"] or "-", str(row["strokes"]), str(row["points"]), bbox)
    Console().print(table)
