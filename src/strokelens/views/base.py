"""The `View` protocol: how presence weights ``z`` (one per unit) reach a model.

A view binds a model to a batch of units (`View.game`) and answers ``outputs(z, rows, **inputs)``:
the model's outputs for presence ``z`` ``(R, K)`` of input items ``rows`` ``(R,)``. ``inputs`` are
what `View.bind` computed once per batch (a rendering frame, cached embeddings, baselines): the
game passes them back and never looks inside. Each view also says what it can do, as class
attributes, so methods ask it instead of guessing from its inputs.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.games import Game, Target
from strokelens.kinds import InputKind
from strokelens.sketch import SketchBatch
from strokelens.units.base import Units


class View(ABC):
    """Base class of every view. Subclasses set the class attributes and implement `bind`,
    `outputs`, `make_units` and (for sketch views) `points`."""

    #: The kind of units this view takes (checked by `game`).
    units_type: ClassVar[type[Units]] = Units
    #: The kind of input of the models it serves (what files it reads, what an input is called).
    #: Views of custom games (no model input) count their inputs as sketches.
    kind: ClassVar[InputKind] = kinds.RASTER_SKETCH
    #: True when ``outputs(..., points=...)`` takes replacement coordinates (see `points`).
    takes_points: ClassVar[bool] = False
    #: True when those coordinates are the units' original sketch points (one per drawn point), so a
    #: gradient w.r.t. them scores the sketch's own points (P-SLA).
    sketch_points: ClassVar[bool] = False
    #: True when the model reads the order strokes were drawn in (a vector model's stroke index);
    #: a raster model sees only ink, so shuffling strokes has no meaning for it.
    reads_stroke_order: ClassVar[bool] = False
    #: True when outputs are class logits (so ``prob`` and ``log-prob`` scores mean something).
    outputs_are_logits: ClassVar[bool] = True
    #: True when the input with every unit removed is the same for all inputs (an empty canvas), so
    #: its outputs can be computed once and stored (learned explainers do).
    empty_is_constant: ClassVar[bool] = False
    #: Model rows per forward pass in a game.
    max_rows: int = 1024

    model: torch.nn.Module
    class_names: Sequence[str]

    @property
    def device(self) -> torch.device:
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def game(
        self,
        units: Units,
        target: Target = "auto",
        score: str = "logit",
        max_rows: int | None = None,
        **bind_options: Any,
    ) -> Game:
        """Bind the view to a batch of units (moved to the model's device) and targets.
        ``bind_options`` go to `bind` (e.g. an embedding view's ``reference``)."""
        if not isinstance(units, self.units_type):
            raise StrokelensError(
                f"{type(self).__name__} takes {self.units_type.__name__}, got {type(units).__name__}"
            )
        allowed = [p for p in inspect.signature(self.bind).parameters if p != "units"]
        unknown = sorted(set(bind_options) - set(allowed))
        if unknown:
            raise StrokelensError(
                f"{type(self).__name__}.game got unknown option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(allowed) or 'none'}"
            )
        units = units.to(self.device)
        inputs = self.bind(units, **bind_options)
        return Game(self, units, target, score, max_rows or self.max_rows, inputs)

    @abstractmethod
    def bind(self, units: Any) -> dict[str, Any]:
        """What ``outputs`` needs for these units that presence does not change, computed once.
        Keyword options a subclass adds here are the options of its `game`."""

    @abstractmethod
    def outputs(self, z: torch.Tensor, rows: torch.Tensor, **inputs: Any) -> torch.Tensor:
        """Model outputs ``(R, C)`` for presence ``z`` ``(R, K)`` of input items ``rows`` ``(R,)``."""

    @abstractmethod
    def make_units(self, inputs: Sequence[Any], **options: Any) -> Units:
        """Units for raw inputs (sketches or photos) as this view's model expects them."""

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        """Inputs as the model is explained on them (e.g. simplified sketches); default: unchanged."""
        return list(inputs)

    def points(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(points (B, N, 2), stroke_ids (B, N))``: the coordinates ``outputs(..., points=...)``
        replaces, for bound ``inputs`` (stroke id ``-1`` on padding). Sketch views only."""
        raise StrokelensError(f"{type(self).__name__} takes no point coordinates")

    def unit_options(self) -> tuple[str, ...]:
        """Names of the options `make_units` accepts."""
        return ()

    def units_for(self, inputs: Any, kind: str | None = None, **options: Any) -> Units:
        """Units of ``kind`` for raw ``inputs`` (one input or a sequence), checking the options:
        those given as None take the view's defaults; an option the view does not take is an error."""
        kinds = self.units_type.KINDS
        if kind is not None and kind not in kinds:
            raise StrokelensError(f"{type(self).__name__} scores {' or '.join(kinds)} units, not {kind!r}")
        options = {k: v for k, v in options.items() if v is not None}
        allowed = self.unit_options()
        if kind is not None and "kind" in allowed:
            options["kind"] = kind
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise StrokelensError(
                f"{type(self).__name__} units take no option {', '.join(unknown)}; "
                f"valid: {', '.join(allowed) or 'none'}"
            )
        if not isinstance(inputs, (list, tuple, SketchBatch)):
            inputs = [inputs]
        return self.make_units(inputs, **options)
