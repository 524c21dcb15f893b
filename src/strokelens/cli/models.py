"""``--model NAME|PATH`` and the options that describe a user's model, shared by `predict`,
`explain` and `evaluate`: a shipped model by name, or a TorchScript file, a TF.js layers
``model.json`` folder or ``package.module:factory`` with ``--input``, ``--classes`` and the raster
rendering options (see docs/models.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strokelens.errors import StrokelensError
from strokelens.models import INPUT_KINDS, REGISTRY

if TYPE_CHECKING:
    import torch

#: The input kinds ``--input`` takes (`strokelens.models.wrap.INPUTS`, known without PyTorch).
INPUTS = ("raster-sketch", "vector-sketch", "image")
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


def parse_values(text: str, what: str) -> float | tuple[float, ...]:
    """``"0.5"`` or ``"0.485,0.456,0.406"`` as a float or a tuple of floats."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise StrokelensError(f"--{what} takes a number or comma-separated numbers, got {text!r}") from None
    return vals[0] if len(vals) == 1 else vals


@dataclass
class ModelSpec:
    """What ``--model`` and its options say; `load` loads it once."""

    name: str
    input: str | None = None
    classes: Path | None = None
    render: dict[str, Any] = field(default_factory=dict)
    points_per_stroke: int | None = None
    _model: Any = None

    @property
    def shipped(self) -> bool:
        return self.name in REGISTRY

    def kind(self) -> str:
        """The model's ``input_kind``, loading it only when the options do not say."""
        if self.shipped:
            return INPUT_KINDS[self.name]
        self._check_options()
        return self.input or self.load().input_kind

    def _check_options(self) -> None:
        """Refuse options that do not fit ``--input`` (before anything is loaded)."""
        render = {k for k in self.render if k != "size"}
        if self.input not in (None, "raster-sketch") and render:
            raise StrokelensError(f"the rendering options are for raster-sketch models, not {self.input}")
        if self.input == "vector-sketch" and "size" in self.render:
            raise StrokelensError("--size is for raster-sketch and image models")
        if self.points_per_stroke is not None and self.input != "vector-sketch":
            raise StrokelensError("--points-per-stroke is for vector-sketch models")

    def load(self, home: Path | None = None, device: torch.device | str | None = None) -> torch.nn.Module:
        """The model, in eval mode on ``device`` (loaded on the first call)."""
        if self._model is None:
            self._model = self._load(home)
        return self._model.to(device or "cpu") if device is not None else self._model

    def _load(self, home: Path | None) -> torch.nn.Module:
        given = [f"--{k.replace('_', '-')}" for k, v in self._own_options().items() if v not in (None, {})]
        if self.shipped:
            if given:
                raise StrokelensError(f"{', '.join(given)}: for --model PATH, not the shipped {self.name}")
            from strokelens.models import load_model

            return load_model(self.name, home=home)
        from strokelens.models.files import read_class_names
        from strokelens.models.wrap import load_model_file

        self._check_options()
        render = dict(self.render)
        for key in ("ink", "background", "mean", "std"):
            if isinstance(render.get(key), str):
                render[key] = parse_values(render[key], key)
        size = render.pop("size", None) if self.input == "image" else None
        classes = read_class_names(self.classes) if self.classes is not None else None
        return load_model_file(
            self.name,
            input=self.input,
            classes=classes,
            render=render,
            input_size=size,
            points_per_stroke=self.points_per_stroke,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for job manifests: the name, the options, and for a model file
        its size and modification time (so a resumed job notices a retrained model)."""
        out: dict[str, Any] = {"name": self.name}
        out.update({k: str(v) if isinstance(v, Path) else v for k, v in self._own_options().items()})
        path = Path(self.name)
        if not self.shipped and path.exists():
            st = path.stat()
            out["file_size"], out["file_mtime_ns"] = st.st_size, st.st_mtime_ns
        return {k: v for k, v in out.items() if v is not None}

    def _own_options(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "classes": self.classes,
            "points_per_stroke": self.points_per_stroke,
            **self.render,
        }


@dataclass
class ViewLoader:
    """A picklable ``() -> View`` for dataset jobs: loads the model of ``spec`` on ``device`` (None:
    CUDA when present) wherever it is called, a Ray actor included."""

    spec: ModelSpec
    home: Path | None = None
    device: str | None = None

    def __call__(self):
        from strokelens.views import view_for

        return view_for(self.spec.load(home=self.home, device=resolve_device(self.device)))

    def __getstate__(self) -> dict[str, Any]:  # send the recipe, not a loaded model
        return {**self.__dict__, "spec": replace(self.spec, _model=None)}


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1`` ...; None: CUDA when present. Asking for CUDA without it is an error."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StrokelensError(f"device {name!r} asked for, but CUDA is not available")
    return torch.device(name)


_OPTIONS = [
    click.option(
        "--input",
        "model_input",
        type=click.Choice(INPUTS),
        default=None,
        help="What a --model PATH takes: raster-sketch (images drawn by the rendering options), "
        "vector-sketch (strokes) or image (RGB photos).",
    ),
    click.option(
        "--classes",
        "model_classes",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Class names of a --model PATH, one a line in output order (default: 0, 1, ...).",
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
        "--points-per-stroke",
        type=click.IntRange(min=2),
        default=None,
        help="Vector models: resample each stroke to N points.",
    ),
]


def model_options(default: str | None = "doodlenet", help: str = "") -> Callable:
    """``--model`` (a shipped name or a PATH) and the options of a user's model; the command gets
    one ``model_spec`` argument (a `ModelSpec`, or None when ``default`` is None and none was given)."""
    names = ", ".join(sorted(REGISTRY))
    model_opt = click.option(
        "--model",
        "model_name",
        default=default,
        show_default=default is not None,
        help=(help or "Model to explain.")
        + f" A shipped model ({names}) or your own: a TorchScript file, a TF.js model.json folder, or "
        "package.module:factory (see --input, --classes and the rendering options).",
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
            )
            for param, key in RENDER_OPTIONS.items():
                value = kwargs.pop(param)
                if value is not None:
                    spec.render[key] = int(value) if key == "channels" else value
            if name is None:
                if spec.input or spec.classes or spec.render or spec.points_per_stroke:
                    raise StrokelensError("--input, --classes and the rendering options need --model PATH")
                spec = None
            return command(*args, model_spec=spec, **kwargs)

        for option in reversed(_OPTIONS):
            inner = option(inner)
        return model_opt(inner)

    return decorate
