"""Where the benchmark data sets live.

The models strokelens explains by name and a small sample of real drawings ship inside the package
(`strokelens.models`, `strokelens.datasets.load_sample`), so predicting, explaining, the demo and the
server need no folder. Benchmarks, training and the full test splits read a folder laid out so::

    HOME/data/quickdraw-spg/<class>.ndjson.gz
    HOME/data/quickdraw-345x25/<class name>.ndjson
    HOME/data/tu-berlin-svg/<class>/<n>.svg
    HOME/data/imagenet-samples/*.JPEG

The folder is given explicitly (``home=`` arguments, ``--home`` on the CLI) or through the
environment variable ``STROKELENS_HOME``. Nothing here guesses a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from strokelens.errors import StrokelensError

ENV_VAR = "STROKELENS_HOME"

#: Where a user gets each top-level item of the home folder.
SOURCES = {
    "data/quickdraw-spg": "the SPG release (Sketch Perceptual Grouping, QuickDraw subset with part labels)",
    "data/quickdraw-345x25": "the public QuickDraw dataset's simplified ndjson files "
    "(https://github.com/googlecreativelab/quickdraw-dataset)",
    "data/tu-berlin-svg": "the TU-Berlin sketch dataset's SVG release",
    "data/imagenet-samples": "one ImageNet validation photo per class, named n<wnid>_<class>.JPEG",
}


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Return the data folder from ``home`` or ``$STROKELENS_HOME``; raise if neither is set."""
    value = home if home is not None else os.environ.get(ENV_VAR)
    if not value:
        raise StrokelensError(
            f"no data folder: pass --home DIR or set {ENV_VAR} to a folder with the data sets in data/"
        )
    path = Path(value).expanduser()
    if not path.is_dir():
        raise StrokelensError(f"data folder {path} (from {'--home' if home else ENV_VAR}) does not exist")
    return path


def home_path(relative: str, home: str | os.PathLike[str] | None = None) -> Path:
    """Return ``HOME/relative``, raising an error that says where to get it when it is missing."""
    path = resolve_home(home) / relative
    if not path.exists():
        top = "/".join(relative.split("/")[:2])
        hint = SOURCES.get(top)
        more = f"; get it from {hint}" if hint else ""
        raise StrokelensError(f"missing {path}{more}")
    return path
