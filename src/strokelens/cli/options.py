"""The options the commands share, in one place: ``--model`` (a shipped model or your own, with the
options that describe it), ``--device``, ``--units``, ``--limit``, ``--batch-size``, ``--weights``,
``--segments``, and ``--target`` parsing. Commands stay thin: they read options here, ask the model's
kind of input (`strokelens.kinds`) what its files and words are, and call the library."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.kinds import InputKind
from strokelens.models import INPUT_KINDS, REGISTRY
from strokelens.models.spec import ModelSpec

#: The input kinds ``--input`` takes (`strokelens.models.wrap.INPUTS`, known without PyTorch).
INPUTS = tuple(k.name for k in kinds.CLASSIFIER_KINDS)
#: Rendering options: CLI parameter name -> `RasterPreset` argument.
RENDER_OPTIONS = {
    "render_size": "size",
    "line_width": "line_width",
    "padding": "padding",
    "centre": "centre",
    "ink": "ink",
    "background": "background",
    "channels": "channels",
    "mean": "mean",
    "std": "std",
}

_OPTIONS = [
    click.option(
        "--input",
        "model_input",
        type=click.Choice(INPUTS),
        default=None,
        help="What a --model PATH takes: "
        + ", ".join(f"{k.name} ({k.help})" for k in kinds.CLASSIFIER_KINDS)
        + ".",
    ),
    click.option(
        "--classes",
        "model_classes",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Class names of a --model PATH in output order: one a line, or a JSON list (default: the "
        "file's own, else class_names.txt, classes.txt or labels.txt beside it, else 0, 1, ...).",
    ),
    click.option(
        "--size", "render_size", type=click.IntRange(min=1), default=None, help="Input side in pixels."
    ),
    click.option("--line-width", type=click.FloatRange(min=0, min_open=True), default=None, help="Pixels."),
    click.option("--padding", type=click.FloatRange(min=0), default=None, help="Pixels free on each side."),
    click.option(
        "--centre/--no-centre", default=None, help="Centre the drawing (default) or put it top-left."
    ),
    click.option("--ink", default=None, help="Ink colour in [0, 1]: 1 (white, default) or R,G,B."),
    click.option(
        "--background", default=None, help="Background colour in [0, 1]: 0 (black, default) or R,G,B."
    ),
    click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Image channels (1)."),
    click.option("--mean", default=None, help="Normalisation (image - mean) / std: one value or R,G,B (0)."),
    click.option("--std", default=None, help="Normalisation std: one value or R,G,B (1)."),
    click.option(
        "--trust-pickle",
        is_flag=True,
        default=False,
        help="Load a --model PATH that is a whole-model PyTorch pickle (torch.save(model)); "
        "loading it runs code the file names, so only for files you trust.",
    ),
    click.option(
        "--points-per-stroke",
        type=click.IntRange(min=2),
        default=None,
        help="Vector models: resample each stroke to N points.",
    ),
]


def _note(message: str) -> None:
    """A note about loading a model (the class file used, a warning): one line on stderr."""
    click.echo(f"strokelens: {message}", err=True)


def shipped_models(takes: Iterable[InputKind] | None = None) -> list[str]:
    """The shipped models (those whose kind of input is among ``takes``, default: all), sorted."""
    valid = None if takes is None else set(takes)
    return sorted(n for n in REGISTRY if valid is None or kinds.parse(INPUT_KINDS[n]) in valid)


def model_options(
    default: str | None = "doodlenet",
    help: str = "",
    user_models: bool = True,
    takes: Sequence[InputKind] | None = None,
) -> Callable:
    """``--model``: a shipped model (among those whose input is one of ``takes``) or, with
    ``user_models``, a PATH with the options that describe it. The command gets one ``model_spec``
    argument (a `ModelSpec`, or None when ``default`` is None and none was given)."""
    names = shipped_models(takes)
    if not user_models:
        option = click.option(
            "--model",
            "model_name",
            type=click.Choice(names),
            default=default,
            show_default=default is not None,
            help=help or "Model to explain.",
        )

        def decorate_shipped(command: Callable) -> Callable:
            @functools.wraps(command)
            def inner(*args: Any, **kwargs: Any) -> Any:
                name = kwargs.pop("model_name")
                return command(*args, model_spec=None if name is None else ModelSpec(name), **kwargs)

            return option(inner)

        return decorate_shipped

    model_opt = click.option(
        "--model",
        "model_name",
        default=default,
        show_default=default is not None,
        help=(help or "Model to explain.")
        + f" A shipped model ({', '.join(names)}) or your own: a Keras .h5/.keras, TF.js model.json "
        "folder, TorchScript, ONNX or (with --trust-pickle) pickled PyTorch file, recognised from its "
        "content, or package.module:factory (see --input, --classes and the rendering options).",
    )

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def inner(*args: Any, **kwargs: Any) -> Any:
            name = kwargs.pop("model_name")
            spec = ModelSpec(
                name=name,
                input=kwargs.pop("model_input"),
                classes=kwargs.pop("model_classes"),
                points_per_stroke=kwargs.pop("points_per_stroke"),
                trust_pickle=kwargs.pop("trust_pickle"),
                note=_note,
            )
            for param, key in RENDER_OPTIONS.items():
                value = kwargs.pop(param)
                if value is not None:
                    spec.render[key] = int(value) if key == "channels" else value
            if name is None:
                if spec.input or spec.classes or spec.render or spec.points_per_stroke or spec.trust_pickle:
                    raise StrokelensError(
                        "--input, --classes, --trust-pickle and the rendering options need --model PATH"
                    )
                spec = None
            return command(*args, model_spec=spec, **kwargs)

        for option in reversed(_OPTIONS):
            inner = option(inner)
        return model_opt(inner)

    return decorate


device_option = click.option(
    "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present)."
)
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch."
)
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")
units_option = click.option(
    "--units",
    type=click.Choice(["stroke", "piece"]),
    default=None,
    help="Units to score (default: the method's own; psla uses pieces).",
)
limit_option = click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="At most N drawings per file (photos: N in all).",
)
batch_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help=f"Drawings ({kinds.SKETCH_FILES.batch_size('explain')}) or photos "
    f"({kinds.PHOTO_FILES.batch_size('explain')}) per batch.",
)
weights_option = click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    help="A trained explainer for wys/fastshap: the folder `strokelens train explainer --out` wrote, "
    "or its .safetensors file; default: the shipped one.",
)
fallback_option = click.option(
    "--fallback",
    type=click.FloatRange(0, 1),
    default=None,
    help="wys/fastshap: explain this share of each batch's least certain drawings by occlusion "
    "instead (K evaluations each, counted in the cost).",
)
segments_option = click.option(
    "--segments",
    type=click.IntRange(min=2),
    default=50,
    show_default=True,
    help="SLIC superpixels per photo (photo models only).",
)


def parse_target(target: str) -> str | int:
    """``--target``: a class index (an integer) or a name (``auto``, ``file``, a class name)."""
    return int(target) if re.fullmatch(r"-?[0-9]+", target) else target


def learned_options(
    methods: list[str], weights: Path | None, fallback: float | None = None
) -> dict[str, dict[str, str | float]]:
    """``{method: {"weights": PATH, "fallback": F}}`` for the learned explainers among ``methods``;
    --weights or --fallback with no learned method is an error."""
    from strokelens.methods import get_method, learned_methods  # loads PyTorch: not for --help

    given: dict[str, str | float] = {}
    if weights is not None:
        given["weights"] = str(weights)
    if fallback is not None:
        given["fallback"] = float(fallback)
    if not given:
        return {}
    learned = [m for m in methods if get_method(m).learned]
    if not learned:
        names = " and ".join(f"--{k}" for k in given)
        raise StrokelensError(f"{names} is for the learned explainers ({', '.join(learned_methods())})")
    return {m: dict(given) for m in learned}


def read_all(files: Iterable[Any], limit: int | None) -> list[Any]:
    """All drawings of all sketch files (at most ``limit`` per file)."""
    return kinds.SKETCH_FILES.read(files, limit)
