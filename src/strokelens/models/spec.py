"""`ModelSpec`: a model named by the CLI, a job manifest or the server (a shipped model by name, or a
model file in any format of `strokelens.models.formats` or ``package.module:factory`` with its input
kind, class names and raster rendering options; see docs/models.md and docs/formats.md), loaded
once; `resolve_device`.
PyTorch is imported only when a model is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.kinds import InputKind
from strokelens.models import INPUT_KINDS, REGISTRY

if TYPE_CHECKING:
    import torch

__all__ = ["ModelSpec", "parse_values", "resolve_device"]


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
    trust_pickle: bool = False
    #: Where notes go (the class file used, the pickle warning); the CLI: stderr.
    note: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    _model: Any = None

    @property
    def shipped(self) -> bool:
        return self.name in REGISTRY

    def kind(self) -> InputKind:
        """The model's kind of input, loading it only when the options do not say."""
        if self.shipped:
            return kinds.parse(INPUT_KINDS[self.name])
        self._check_options()
        given = self._given_kind()
        return given if given is not None else kinds.of(self.load())

    def _given_kind(self) -> InputKind | None:
        return None if self.input is None else kinds.parse(self.input, among=kinds.CLASSIFIER_KINDS)

    def _check_options(self) -> None:
        """Refuse options that do not fit ``--input`` (before anything is loaded)."""
        kind = self._given_kind()
        render = {k for k in self.render if k != "size"}
        if kind not in (None, kinds.RASTER_SKETCH) and render:
            raise StrokelensError(f"the rendering options are for raster-sketch models, not {self.input}")
        if kind is kinds.VECTOR_SKETCH and "size" in self.render:
            raise StrokelensError("--size is for raster-sketch and image models")
        if self.points_per_stroke is not None and kind is not kinds.VECTOR_SKETCH:
            raise StrokelensError("--points-per-stroke is for vector-sketch models")

    def load(self, home: Path | None = None, device: torch.device | str | None = None) -> torch.nn.Module:
        """The model, in eval mode on ``device`` (loaded on the first call)."""
        if self._model is None:
            self._model = self._load(home)
        return self._model.to(device or "cpu") if device is not None else self._model

    def _load(self, home: Path | None) -> torch.nn.Module:
        given = [f"--{k.replace('_', '-')}" for k, v in self._own_options().items() if v]
        if self.shipped:
            if given:
                raise StrokelensError(f"{', '.join(given)}: for --model PATH, not the shipped {self.name}")
            from strokelens.models import load_model

            return load_model(self.name, home=home)
        from strokelens.models.formats import CLI
        from strokelens.models.recipe_file import apply_saved_recipe
        from strokelens.models.wrap import load_model_file

        self._check_options()
        model_input, render = apply_saved_recipe(self.name, self.input, dict(self.render))
        for key in ("ink", "background", "mean", "std"):
            if isinstance(render.get(key), str):
                render[key] = parse_values(render[key], key)
        size = render.pop("size", None) if self._given_kind() is kinds.IMAGE else None
        return load_model_file(
            self.name,
            input=model_input,
            classes=self.classes,
            render=render,
            input_size=size,
            points_per_stroke=self.points_per_stroke,
            trust_pickle=self.trust_pickle,
            wording=CLI,
            note=self.note,
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
            "trust_pickle": self.trust_pickle or None,
            **self.render,
        }


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1`` ...; None: CUDA when present. Asking for CUDA without it is an error."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StrokelensError(f"device {name!r} asked for, but CUDA is not available")
    return torch.device(name)
