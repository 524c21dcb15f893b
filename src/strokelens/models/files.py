"""Model files strokelens writes and reads: weights as safetensors (never a pickle) and a JSON file
of the config beside them, ``name.safetensors`` + ``name.json``; class-name lists, one a line."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from strokelens.errors import StrokelensError

M = TypeVar("M", bound=nn.Module)


def save_weights(
    module: nn.Module, directory: str | os.PathLike[str], name: str, meta: dict[str, Any]
) -> Path:
    """Write ``name.safetensors`` (``module``'s weights only) and ``name.json`` (``meta``); returns the
    weights' path."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(out / f"{name}.safetensors"))
    (out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out / f"{name}.safetensors"


def read_weights(
    weights: str | os.PathLike[str],
    config_json: str | os.PathLike[str],
    what: str,
    build: Callable[[dict[str, Any]], M],
) -> M:
    """The model ``build(meta)`` makes from ``config_json``'s contents, with the weights of
    ``weights`` loaded (safetensors: no pickle), in eval mode. ``what`` names the model in errors."""
    from safetensors.torch import load_file

    weights, config_json = Path(weights), Path(config_json)
    for path in (weights, config_json):
        if not path.is_file():
            raise StrokelensError(f"missing {what} file {path}")
    try:
        model = build(json.loads(config_json.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise StrokelensError(f"{config_json}: not a {what} config ({exc})") from exc
    try:
        model.load_state_dict(load_file(str(weights)))
    except Exception as exc:
        raise StrokelensError(f"{weights}: weights do not fit the config in {config_json} ({exc})") from exc
    return model.eval()


def read_class_names(path: str | os.PathLike[str], expected: int | None = None) -> list[str]:
    """Class names, one a line, in output order (trailing blank lines ignored); refuse blank names and,
    when ``expected`` is given, a file with another count."""
    try:
        names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise StrokelensError(f"cannot read class names {path}: {exc}") from None
    while names and not names[-1]:
        names.pop()
    if expected is not None:
        if len(names) != expected or not all(names):
            raise StrokelensError(f"{path}: expected {expected} non-empty class names, found {len(names)}")
    elif not names or not all(names):
        raise StrokelensError(f"{path}: expected one non-empty class name a line")
    return names
