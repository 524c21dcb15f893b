"""`strokelens render FILE --out x.png|x.svg`: draw one drawing, SPG parts coloured when present."""

from __future__ import annotations

from pathlib import Path

import click

from strokelens.cli.app import app
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches
from strokelens.sketch import Sketch
from strokelens.viz import part_colors, part_legend, sketch_png, sketch_svg


def render_sketch(
    sketch: Sketch,
    out: Path,
    size: int = 256,
    width: float = 3.0,
    legend: bool = True,
    title: str | None = None,
) -> Path:
    """Write ``sketch`` to ``out`` (``.png`` or ``.svg``), colouring parts when the sketch has them."""
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise StrokelensError(f"{out}: output must end in .png or .svg")
    colors = part_colors(sketch) if sketch.parts is not None else None
    kwargs = {
        "point_colors": colors,
        "size": size,
        "width": width,
        "title": title,
        "legend": part_legend(sketch) if legend and colors is not None else None,
    }
    if not out.parent.is_dir():
        raise StrokelensError(f"{out}: folder {out.parent} does not exist")
    if suffix == ".svg":
        try:
            out.write_text(sketch_svg(sketch, **kwargs), encoding="utf-8")
        except OSError as exc:
            raise StrokelensError(f"cannot write {out}: {exc.strerror or exc}") from None
    else:
        sketch_png(sketch, out, **kwargs)
    return out


@app.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="x.png or x.svg"
)
@click.option(
    "--index", type=click.IntRange(min=0), default=0, show_default=True, help="Which drawing of FILE."
)
@click.option("--size", type=click.IntRange(min=32, max=8192), default=256, show_default=True, help="Pixels.")
@click.option(
    "--width", type=click.FloatRange(min=0.1), default=3.0, show_default=True, help="Line width (px)."
)
@click.option("--no-legend", is_flag=True, help="Leave out the list of part names.")
def render(file: Path, out: Path, index: int, size: int, width: float, no_legend: bool) -> None:
    """Draw drawing number INDEX of FILE to OUT (PNG or SVG), SPG parts coloured."""
    sketches = list(read_sketches(file, limit=index + 1))
    if len(sketches) <= index:
        raise StrokelensError(f"{file}: no drawing {index} (the file has {len(sketches)})")
    sketch = sketches[index]
    title = sketch.label
    render_sketch(sketch, out, size=size, width=width, legend=not no_legend, title=title)
    click.echo(str(out))
