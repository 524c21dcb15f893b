"""The click group every command lives on, and options the commands share.

Commands load lazily: `COMMANDS` names the module and attribute of each one (``"module:attribute"``)
and its one-line help. ``strokelens --help`` lists them from this table without importing any command
module, and ``strokelens info`` imports only `strokelens.cli.info`, so neither pays for PyTorch (about
3 s to import on a small machine). A command module is imported the first time click asks for its
command (running it, or ``strokelens CMD --help``); its ``@app.command()`` decorator registers it then.
``tests/test_cli_start.py`` checks that the table matches the commands.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from strokelens.home import ENV_VAR

#: name -> ("module:attribute" of the click command, its short help as ``strokelens --help`` shows it).
COMMANDS: dict[str, tuple[str, str]] = {
    "analyse": (
        "strokelens.cli.analyse:analyse_command",
        "How much a sketch model relies on the shape, order and location of the strokes in FILES: "
        "accuracy with each disturbed on its own, and each one's Shapley share per drawing.",
    ),
    "attack": (
        "strokelens.cli.attack:attack",
        "Attack a sketch model on every drawing in FILES: remove the strokes an explanation ranks "
        "highest, or move the points of the pieces P-SLA ranks highest; save the attacked drawings.",
    ),
    "check": (
        "strokelens.cli.check:check",
        "Check that a model is fed the way it was trained: accuracy on labelled FILES, a picture of "
        "what it receives, a warning near chance; --fit-recipe finds and saves the raster recipe.",
    ),
    "data": (
        "strokelens.cli.data:data",
        "Get data: the drawings that ship with strokelens, or public Quick, Draw! files.",
    ),
    "demo": (
        "strokelens.cli.demo:demo",
        "Explain DoodleNet's predictions on real SPG test sketches (SLA, P-SLA, IG, occlusion, the "
        "learned fastshap and wys explainers, exact Shapley side by side) and write an HTML report.",
    ),
    "evaluate": (
        "strokelens.cli.explain:evaluate",
        "Score attribution methods on the drawings (or photos) in FILES: deletion/insertion AUC, "
        "agreement with exact Shapley values, and cost.",
    ),
    "explain": (
        "strokelens.cli.explain:explain",
        "Explain a model's decision on every drawing (or photo) in FILES: every score to Parquet shards "
        "in OUT/shards (resumable, local or on Ray), pictures and report.html for the first drawings.",
    ),
    "info": (
        "strokelens.cli.info:info",
        "Print strokes, points, bounding box and class of every drawing in FILES.",
    ),
    "invert": (
        "strokelens.cli.invert:invert_command",
        "Move only the strokes of every drawing in FILES until the model sees a class; save the frames.",
    ),
    "predict": (
        "strokelens.cli.predict:predict",
        "Print the top classes of a model (a shipped one or your own) for every drawing or photo.",
    ),
    "render": (
        "strokelens.cli.render:render",
        "Draw drawing number INDEX of FILE to OUT (PNG or SVG), SPG parts coloured.",
    ),
    "retrieve": (
        "strokelens.cli.retrieve:retrieve",
        "Search a gallery of sketches for every drawing in QUERY_FILES; explain the top matches in strokes.",
    ),
    "serve": (
        "strokelens.cli.serve:serve",
        "Serve the assisted-drawing page and its JSON API: draw, and see the model's reading of every "
        "stroke; open the printed address in a browser.",
    ),
    "train": ("strokelens.cli.train:train", "Train the models strokelens ships."),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported only when one is needed.

    ``lazy`` maps a command name to ``("module:attribute", short help)``. Commands registered the
    ordinary way (``@group.command()``) work beside them.
    """

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = self.load(cmd_name)
        return self.commands.get(cmd_name)

    def load(self, name: str) -> click.Command:
        """Import the module of lazy command ``name`` and return its command."""
        module_name, attribute = self.lazy[name][0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command) or command.name != name:
            raise TypeError(f"{module_name}:{attribute} is not the click command {name!r}")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``: short help from the table for commands not yet imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, click.utils.make_default_short_help(self.lazy[name][1], limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    name="strokelens",
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="strokelens")
def app() -> None:
    """Explain sketch and image models in strokes, stroke pieces and superpixels."""


def file_stem(i: int, key_id: str | None) -> str:
    """A safe file name stem for drawing number ``i``: ``0007_<key_id>``, odd characters replaced."""
    raw = f"{i:04d}_{key_id or 'sketch'}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)[:80]


#: ``--home DIR``: the benchmark data folder; defaults to $STROKELENS_HOME (models ship in the package).
home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Folder with the benchmark data sets in data/ (default: ${ENV_VAR}); not needed for models.",
)

#: Sketch or photo files given as arguments.
files_argument = click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
