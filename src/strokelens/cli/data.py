"""`strokelens data download quickdraw`: fetch public QuickDraw files (`strokelens.download`)."""

from __future__ import annotations

from pathlib import Path

import click

from strokelens.cli.app import app, home_option
from strokelens.download import FORMATS, URL_ENV_VAR, download_quickdraw, read_class_file
from strokelens.download.http import TIMEOUT


@app.group()
def data() -> None:
    """Get data: the drawings that ship with strokelens, or public Quick, Draw! files."""


@data.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sample"),
    show_default=True,
    help="Folder for the files.",
)
def sample(out: Path) -> None:
    """Write the shipped sample as files: 4 real SPG test drawings of each of 20 QuickDraw classes,
    with part labels (QuickDraw CC BY 4.0, SPG MIT; see ATTRIBUTION.md there)."""
    from strokelens.datasets import copy_sample

    files = copy_sample(out)
    click.echo(f"{len(files)} files of drawings (4 a class) and ATTRIBUTION.md in {out}")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


@data.command()
@click.argument("dataset", type=click.Choice(["quickdraw"]))
@click.option(
    "--classes",
    default=None,
    help="Comma-separated QuickDraw class names (cat,dog,The Eiffel Tower), or all.",
)
@click.option(
    "--classes-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A text file of class names, one a line (# comments allowed).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="simplified",
    show_default=True,
    help="simplified or raw ndjson, binary, 28x28 numpy bitmaps, or sketch-rnn npz.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the files (default: HOME/data/quickdraw-FORMAT).",
)
@home_option
@click.option(
    "--base-url",
    envvar=URL_ENV_VAR,
    default=None,
    help=f"Replace the bucket root https://storage.googleapis.com/quickdraw_dataset (${URL_ENV_VAR}).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=TIMEOUT,
    show_default=True,
    help="Seconds allowed to connect and for each read.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def download(
    dataset: str,
    classes: str | None,
    classes_file: Path | None,
    fmt: str,
    out: Path | None,
    home: Path | None,
    base_url: str | None,
    timeout: float,
    progress: bool | None,
) -> None:
    """Download DATASET's files: resumable (NAME.part), checked, skipping files already there."""
    names = [c.strip() for c in (classes or "").split(",") if c.strip()]
    if classes_file is not None:
        names += read_class_file(classes_file)
    if not names:
        raise click.UsageError("give --classes (cat,dog or all) or --classes-file")
    results = download_quickdraw(
        names, out, format=fmt, base=base_url, home=home, timeout=timeout, progress=progress
    )
    for r in results:
        click.echo(f"{r.status:<10} {_size(r.size):>9}  {r.path}")
    fetched = sum(r.status != "skipped" for r in results)
    folder = results[0].path.parent
    kept = len(results) - fetched
    click.echo(f"{len(results)} {fmt} files in {folder} ({fetched} fetched, {kept} already there)")
