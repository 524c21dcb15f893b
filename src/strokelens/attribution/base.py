"""The one call shape every attribution method shares.

``Method(view).attribute(inputs, target="auto", units="stroke", seed=0, **options)`` returns a
`strokelens.explanation.Explanation`: a score per unit for every input, what it cost (model
evaluations, seconds) and the seed. Methods register by name with `register`; look them up with
`strokelens.methods.get_method`.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from strokelens.attribution.cost import Cost
from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.games import Game, Target
from strokelens.models.gradients import require_gradients
from strokelens.units.base import Units

if TYPE_CHECKING:
    from strokelens.views.base import View

METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available by its ``name``."""
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``."""
    if name not in METHODS:
        raise StrokelensError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name]


#: Python types an option annotation may name, and the values each accepts.
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}


def method_options(method: type[Method] | Method) -> dict[str, inspect.Parameter]:
    """The options a method declares: the keyword-only parameters of its `scores`, but ``seed``."""
    sig = inspect.signature(method.scores)
    return {name: p for name, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY and name != "seed"}


def check_options(method: type[Method] | Method, options: dict[str, Any]) -> None:
    """Refuse an option the method does not declare, or a value of the wrong type."""
    declared = method_options(method)
    unknown = sorted(set(options) - set(declared))
    if unknown:
        valid = ", ".join(f"{n}={p.default!r}" for n, p in declared.items()) or "none"
        raise StrokelensError(
            f"method {method.name!r} has no option {', '.join(map(repr, unknown))}; its options: {valid}"
        )
    for name, value in options.items():
        kinds = _OPTION_TYPES.get(str(declared[name].annotation))
        if kinds is None:
            continue
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            raise StrokelensError(
                f"method {method.name!r}: option {name} must be {declared[name].annotation}, got {value!r}"
            )


def _without_gradients() -> str:
    """The methods that look at the model without gradients or training, for an error's advice."""
    names = [
        m.name
        for m in sorted(METHODS.values(), key=lambda m: (m.listing, m.name))
        if not (m.needs_gradients or m.model_free or m.learned)
    ]
    return f"a method without gradients ({', '.join(names)})"


class Method:
    """Base class: subclasses set ``name`` and implement `scores` on a game, declaring their options
    as keyword-only, typed parameters with defaults (``def scores(self, game, *, seed=0, steps: int = 16)``).
    An option a method does not declare is an error, never silently ignored.

    A method carries its capabilities as class attributes (the family base classes of
    `strokelens.attribution.families` set most of them); `strokelens.attribution.catalogue` queries
    them (`methods_where`), so no code elsewhere keeps lists of method names. A method that
    ``needs_gradients`` refuses, when bound to a view, a model without them (an ONNX model that
    onnxruntime runs): the one check, before any work, for the CLI and Python alike."""

    name: ClassVar[str] = ""
    default_units: ClassVar[str] = "stroke"
    #: True when scores depend on the seed (random sampling).
    uses_seed: ClassVar[bool] = False
    #: The units the method works on (the lime package's image explainer needs superpixels).
    units_type: ClassVar[type[Units]] = Units
    #: The most units per input the method accepts (exact Shapley: 2^K evaluations), or None.
    max_units: ClassVar[int | None] = None
    #: The family (`families`): gradient, perturbation, learned or baseline.
    family: ClassVar[str] = ""
    #: A trained explainer: it needs weights (shipped, or ``weights=PATH``).
    learned: ClassVar[bool] = False
    #: Takes gradients through the model.
    needs_gradients: ClassVar[bool] = False
    #: Looks at no model: a baseline a real explanation must beat.
    model_free: ClassVar[bool] = False
    #: The exact ground truth the other methods are scored against.
    reference: ClassVar[bool] = False
    #: Evaluates the model on many coalitions of one input's units (a raster view caches coverage).
    scores_coalitions: ClassVar[bool] = False
    #: Explains a callable target (a region, a similarity), not only a class.
    callable_targets: ClassVar[bool] = True
    #: Needs a view that draws the sketch's own points (P-SLA's point scores).
    needs_sketch_points: ClassVar[bool] = False
    #: Answers while a person draws (the server's page and the demo offer it).
    interactive: ClassVar[bool] = False
    #: The unit kinds `strokelens evaluate` measures it on by default.
    evaluated_on: ClassVar[tuple[str, ...]] = ()
    #: Model evaluations per input as a function of K units (see `evaluations`).
    cost: ClassVar[Cost] = Cost()
    #: Where tables and menus list it (ascending, then by name): gradients, occlusion, learned,
    #: sampling, the reference, the baselines.
    listing: ClassVar[int] = 100

    @classmethod
    def takes_units(cls, kind: str) -> bool:
        """Whether the method works on units of ``kind`` (``stroke``, ``piece``, ``superpixel``, or a
        kind of a subclass of its units: ``supervoxel`` for superpixel methods)."""
        return not cls.units_type.KINDS or kind in cls.units_type.all_kinds()

    @classmethod
    def evaluations(cls, k: int, **options: Any) -> float:
        """Model evaluations per input of ``k`` units with ``options`` (checked; defaults filled in)."""
        check_options(cls, options)
        full = {n: p.default for n, p in method_options(cls).items()} | options
        return cls.cost(k, full)

    def evaluations_on(self, units: str, k: int, **options: Any) -> float:
        """Model evaluations per input of ``k`` units of kind ``units`` on this method's view: the
        cost model (`evaluations`), plus what a learned method's explainer for the view's model adds."""
        return self.evaluations(k, **options)

    def __init__(self, view: View) -> None:
        if self.needs_gradients:
            require_gradients(getattr(view, "model", None), f"method {self.name!r}", [_without_gradients()])
        self.view = view

    def attribute(
        self,
        inputs: Any,
        target: Target = "auto",
        units: str | Units | None = None,
        seed: int = 0,
        score: str = "logit",
        pieces_per_stroke: int | None = None,
        piece_length: float | None = None,
        **options: Any,
    ) -> Explanation:
        """Score every unit of every input for ``target``; ``options`` are the method's own (see
        `method_options`). ``inputs``: prepared `Units`, or raw inputs the view turns into units
        (sketches, a `SketchBatch`, photos); ``units`` (``stroke``/``piece``) and the piece options
        apply to sketches."""
        check_options(self, options)
        unit_set = self.units_for(inputs, units, pieces_per_stroke, piece_length)
        if not isinstance(unit_set, self.units_type):
            raise StrokelensError(
                f"method {self.name!r} needs {' or '.join(self.units_type.KINDS)} units, "
                f"got {unit_set.kind} units"
            )
        game = self.view.game(unit_set, target, score)
        game.evaluations = 0  # resolving the target (the prediction) is not part of the method's cost
        start = time.perf_counter()
        scores, extras = self.scores(game, seed=seed, **options)
        if game.device.type == "cuda":
            torch.cuda.synchronize(game.device)
        seconds = time.perf_counter() - start
        scores = torch.where(game.unit_mask, scores, torch.zeros_like(scores)).detach().cpu()
        names = None
        if game.target is not None:
            names = [self.view.class_names[int(t)] for t in game.target]
        return Explanation(
            method=self.name,
            units=game.units,
            scores=scores.float(),
            target=None if game.target is None else game.target.cpu(),
            target_names=names,
            evaluations=game.evaluations / game.batch_size,
            seconds=seconds,
            seed=seed if self.uses_seed else None,
            extras=extras,
        )

    @classmethod
    def unit_kind(cls, view: View, units: str | None = None) -> str | None:
        """The unit kind to build: ``units`` when given, else the method's default where ``view``
        has that kind (pieces for P-SLA on a raster view), else None (the view's own default)."""
        if units is None and cls.default_units in view.units_type.KINDS:
            return cls.default_units
        return units

    def units_for(
        self,
        inputs: Any,
        units: str | Units | None = None,
        pieces_per_stroke: int | None = None,
        piece_length: float | None = None,
    ) -> Units:
        """The units to score: ``inputs`` or ``units`` when prepared, else built by the view (of
        ``units`` kind, or the method's default kind where the view has it)."""
        if isinstance(inputs, Units):
            return inputs
        if isinstance(units, Units):
            return units
        return self.view.units_for(
            inputs,
            self.unit_kind(self.view, units),
            pieces_per_stroke=pieces_per_stroke,
            piece_length=piece_length,
        )

    def scores(self, game: Game, *, seed: int = 0) -> tuple[torch.Tensor, dict[str, Any]]:
        """``(B, K)`` scores for the game's inputs, and method-specific extras."""
        raise NotImplementedError
