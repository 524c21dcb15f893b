"""The click group every command module registers on, and options they share."""

from __future__ import annotations

from pathlib import Path

import click

from strokelens.home import ENV_VAR


@click.group(name="strokelens", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="strokelens")
def app() -> None:
    """Explain sketch and image models in strokes, stroke pieces and superpixels."""


#: ``--home DIR``: the data/weights folder; defaults to $STROKELENS_HOME.
home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Folder with data/ and models/ (default: ${ENV_VAR}).",
)

#: Sketch or photo files given as arguments.
files_argument = click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
