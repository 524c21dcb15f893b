"""Bring your own model: `wrap` a PyTorch module so that every view, method, metric and command
accepts it, and `load_model_file` for ``--model PATH`` (any format of `strokelens.models.formats`,
or ``module:factory``), with class names found beside the file.

A wrapped model declares what the views need (``input_kind``, ``class_names``, ``input_size`` and,
for raster models, the rendering preset ``raster_preset``), and `wrap` runs it once on a probe input
so that a wrong input shape or a class list of the wrong length is reported at once, not mid-run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.io.video import VideoRecipe
from strokelens.models.formats import PYTHON, Loaded, LoadOptions, Wording, call_factory, sniff
from strokelens.models.formats.base import Note, first_line
from strokelens.models.formats.classes import class_names_for
from strokelens.render.presets import RasterPreset, SketchCanvas
from strokelens.sketch import Sketch, SketchBatch

#: The input kinds a wrapped model can have, by name.
INPUTS = tuple(k.name for k in kinds.CLASSIFIER_KINDS)
#: ``package.module:factory``.
FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

log = logging.getLogger(__name__)


def probe_sketch() -> Sketch:
    """A two-stroke drawing (a cross in a box's corner) to check a model's input and output."""
    return Sketch(
        strokes=[np.array([[0.0, 0.0], [100.0, 100.0]]), np.array([[0.0, 100.0], [60.0, 40.0], [100.0, 0.0]])]
    )


class WrappedModel(nn.Module):
    """A user's module with what strokelens needs to explain it (made by `wrap`).

    Raster and image models: ``forward(x)`` is the module's. Vector models: ``forward(points,
    stroke_ids, presence)`` is the module's, and `prepare` turns a `SketchBatch` into its input.
    """

    def __init__(
        self,
        module: nn.Module,
        input_kind: str,
        class_names: list[str],
        raster_preset: SketchCanvas | None = None,
        input_size: int | None = None,
        points_per_stroke: int | None = None,
        video_recipe: VideoRecipe | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.kind = kinds.parse(input_kind, among=kinds.CLASSIFIER_KINDS)
        self.input_kind = self.kind.name
        self.class_names = class_names
        self.raster_preset = raster_preset
        self.input_size = input_size
        self.points_per_stroke = points_per_stroke
        #: Video models: how files become clips, and the normalisation the module expects.
        self.video_recipe = video_recipe

    @property
    def feeds_module_unchanged(self) -> bool:
        """Whether `forward` hands its input to the wrapped module as it is (raster and image models;
        not vector models or clips, whose input is prepared first)."""
        return self.kind is not kinds.VECTOR_SKETCH and self.video_recipe is None

    def forward(self, *args: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if self.kind is kinds.VECTOR_SKETCH:
            return self._vector(*args, **kwargs)
        if self.video_recipe is not None:  # clips in [0, 1] -> what the module was trained on
            return self.module(self.video_recipe.normalise(args[0]), *args[1:], **kwargs)
        return self.module(*args, **kwargs)

    def _vector(
        self, points: torch.Tensor, stroke_ids: torch.Tensor, presence: torch.Tensor | None = None
    ) -> torch.Tensor:
        if presence is None:
            n = int(stroke_ids.max()) + 1 if stroke_ids.numel() else 0
            presence = torch.ones(points.shape[0], max(n, 1), device=points.device, dtype=points.dtype)
        return self.module(points, stroke_ids, presence)

    def prepare(self, batch: SketchBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Vector models: the module's own ``prepare`` if it has one, else the normalised frame
        (top-left at 0, longer side 0..1), strokes resampled to ``points_per_stroke`` if set."""
        own = getattr(self.module, "prepare", None)
        if callable(own) and not isinstance(self.module, torch.jit.ScriptModule):
            return own(batch)
        from strokelens.models.stroke_geometry import normalise_points, resample_strokes

        pts = normalise_points(batch.points.to(torch.float32), batch.point_mask)
        sid = torch.where(batch.point_mask, batch.stroke_ids, torch.full_like(batch.stroke_ids, -1))
        if self.points_per_stroke:
            return resample_strokes(pts, sid, self.points_per_stroke)
        return pts, sid

    def classify(self, batch: SketchBatch) -> torch.Tensor:
        """Vector models: logits for a `SketchBatch`, every stroke present."""
        return self(*self.prepare(batch))


def wrap(
    module: nn.Module,
    input: str = "raster-sketch",
    classes: Sequence[str] | int | None = None,
    render: SketchCanvas | dict[str, Any] | None = None,
    input_size: int | None = None,
    points_per_stroke: int | None = None,
    name: str | None = None,
    *,
    recipe: VideoRecipe | None = None,
    classes_from: str | os.PathLike[str] | None = None,
    wording: Wording = PYTHON,
) -> WrappedModel:
    """A model every view, method, metric and command accepts, from any PyTorch ``module``.

    ``input``: ``"raster-sketch"`` (module takes images drawn by ``render``), ``"vector-sketch"``
    (module takes ``points (B, N, 2)``, ``stroke_ids (B, N)`` with ``-1`` padding and ``presence
    (B, S)`` per stroke, and returns logits; points as `WrappedModel.prepare` gives them) or
    ``"image"`` (module takes ``(B, 3, input_size, input_size)`` RGB in [0, 1]; default 224) or
    ``"video"`` (module takes clips ``(B, 3, T, S, S)`` normalised by ``recipe``, a
    `strokelens.io.video.VideoRecipe` that also says how files become clips; the wrapped model
    takes clips in [0, 1]).
    ``classes``: class names in output order, or their count (names ``"0"``, ``"1"``, ...), or None
    (the module's own ``class_names`` if it has them, else the output size decides). ``render``:
    raster models' `RasterPreset` (or its options as a dict; default: the QuickDraw 28x28 bitmap).
    ``name``: how errors name the model; ``classes_from``: the file ``classes`` came from (errors name
    it); ``wording``: how errors name options (Python arguments; the CLI passes its flags).

    The module is put in eval mode and run once on a probe input; an error there, an output that is
    not ``(1, n_classes)`` logits, or a class list of another length raises `StrokelensError`.
    """
    kind = kinds.parse(input, among=kinds.CLASSIFIER_KINDS)
    if not isinstance(module, nn.Module):
        raise StrokelensError(f"{name or 'model'} is a {type(module).__name__}, not a torch.nn.Module")
    label = name or type(module).__name__
    preset: SketchCanvas | None = None
    if kind is kinds.RASTER_SKETCH:
        if render is None:
            preset = RasterPreset(size=input_size or 28)
        elif isinstance(render, dict):
            try:
                preset = RasterPreset(**render)
            except TypeError as exc:
                raise StrokelensError(f"bad rendering option: {exc}") from None
        else:
            preset = render
        input_size = preset.size
    elif render is not None:
        raise StrokelensError(f"render= is for raster-sketch models, not {input}")
    elif kind is kinds.IMAGE:
        input_size = input_size or 224
    if recipe is not None and kind is not kinds.VIDEO:
        raise StrokelensError(f"recipe= is for video models, not {input}")
    if kind is kinds.VIDEO:  # a module may carry its own recipe (a ``module:factory`` model)
        recipe = recipe or getattr(module, "video_recipe", None) or VideoRecipe()
        input_size = recipe.size
    module = module.eval()
    wrapped = WrappedModel(module, kind.name, [], preset, input_size, points_per_stroke, recipe)
    n_out = _probe(wrapped, label, wording)
    if classes is None:
        classes = getattr(module, "class_names", None)  # a module that names its classes itself
    if classes is None:
        names = [str(i) for i in range(n_out)]
    elif isinstance(classes, int):
        names = [str(i) for i in range(classes)]
    else:
        names = [str(c) for c in classes]
    if len(names) != n_out:
        given = f"{classes_from} holds" if classes_from else "were given"
        raise StrokelensError(f"{label} has {n_out} outputs but {len(names)} class names {given}")
    if len(set(names)) != len(names):
        raise StrokelensError(f"{label}: class names must be distinct")
    wrapped.class_names = names
    return wrapped


def _probe(model: WrappedModel, label: str, wording: Wording) -> int:
    """Run ``model`` on one probe input; the number of classes it outputs."""
    batch = SketchBatch.from_sketches([probe_sketch()])
    try:
        device = next(model.module.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    model.to(device)
    batch = batch.to(device)
    with torch.no_grad():
        if model.kind is kinds.RASTER_SKETCH:
            args: tuple[torch.Tensor, ...] = (model.raster_preset(batch),)
        elif model.kind is kinds.IMAGE:
            args = (torch.full((1, 3, model.input_size, model.input_size), 0.5, device=device),)
        elif model.video_recipe is not None:
            r = model.video_recipe
            args = (torch.full((1, 3, r.frames, r.size, r.size), 0.5, device=device),)
        else:
            pts, sid = model.prepare(batch)
            args = (pts, sid, torch.ones(1, 2, device=device))
        shape = " and ".join(str(tuple(a.shape)) for a in args)
        try:
            out = model(*args)
        except Exception as exc:  # any failure of the user's model on its input is reported as one
            raise StrokelensError(
                f"{label} fails on a {model.input_kind} input of shape {shape}: {first_line(exc)}"
                + (
                    f"; match {wording.render_size} to the model's input"
                    if model.kind is kinds.RASTER_SKETCH
                    else ""
                )
            ) from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise StrokelensError(f"{label} must return logits (batch, classes); got {got} for input {shape}")
    return int(out.shape[1])


def load_model_file(
    spec: str | os.PathLike[str],
    input: str | None = None,
    classes: Sequence[str] | str | os.PathLike[str] | None = None,
    render: dict[str, Any] | None = None,
    input_size: int | None = None,
    points_per_stroke: int | None = None,
    *,
    trust_pickle: bool = False,
    wording: Wording = PYTHON,
    note: Note | None = None,
) -> WrappedModel:
    """Load ``spec`` and `wrap` it: a model file or folder in any format of
    `strokelens.models.formats`, recognised from its content (Keras ``.h5``/``.keras``, TF.js
    ``model.json``, TorchScript, ONNX, a PyTorch pickle), or ``package.module:factory`` (called with
    no arguments, returning an ``nn.Module``; modules in the current folder import).

    A whole-model PyTorch pickle runs code from the file, so it loads only with ``trust_pickle``
    (with a warning); a state dict is refused with how to load it through a factory. ``input`` is
    required unless the file declares a square 1-channel (raster sketch) or 3-channel (image) input.
    ``classes``: names, or a class file (one a line, or JSON); else the file's own metadata; else a
    class file beside the model (`strokelens.models.formats.classes.CLASS_FILES`), which ``note``
    (default: the ``strokelens.models.wrap`` logger) is told about. ``wording``: how errors name
    options.
    """
    spec = str(spec)
    path = Path(spec)
    render = dict(render or {})
    if path.exists():
        fmt, probe = sniff(path)
        loaded = fmt.load(probe, LoadOptions(trust_pickle, wording, note))
    elif FACTORY.match(spec):
        loaded = Loaded(call_factory(spec))
    else:
        raise StrokelensError(f"{spec!r}: no such file or folder, and not {wording.other_models}")
    shape = loaded.input_shape
    square = shape is not None and len(shape) == 3 and shape[1] is not None and shape[1] == shape[2]
    if shape is not None and not (square and shape[0] in (1, 3)):
        shape = None  # not a square image: the caller says what the model takes
    if shape is not None:
        channels, size = shape[0], shape[-1]
        input = input or (kinds.IMAGE if channels == 3 and not render else kinds.RASTER_SKETCH).name
        if kinds.parse(input) is kinds.RASTER_SKETCH:
            render.setdefault("size", size)
            render.setdefault("channels", channels)
        else:
            input_size = input_size or size
    if input is None:
        raise StrokelensError(f"{spec}: say what it takes with {wording.input} ({', '.join(INPUTS)})")
    names, source = class_names_for(path, classes, loaded.class_names)
    model = wrap(
        loaded.module,
        input=input,
        classes=names,
        render=render if kinds.parse(input) is kinds.RASTER_SKETCH else (render or None),
        input_size=input_size,
        points_per_stroke=points_per_stroke,
        name=spec,
        classes_from=source,
        wording=wording,
    )
    if source is not None and path.exists() and classes is None and loaded.class_names is None:
        (note or log.info)(f"class names from {source}")
    return model
