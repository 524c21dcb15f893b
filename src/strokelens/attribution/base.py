"""The one call shape every attribution method shares, and the result it returns.

``Method(view).attribute(sketches, target="auto", units="stroke", seed=0, **options)`` returns an
`Explanation`: a score per unit for every input, what it cost (model evaluations, seconds) and the
seed. Methods register by name with `register`, so the CLI and benchmarks can look them up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from strokelens.errors import StrokelensError
from strokelens.games import Game, Target
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units import Units, make_units

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


@dataclass(eq=False)
class Explanation:
    """Per-unit scores for a batch, with the cost and settings that produced them.

    ``scores``: ``(B, K)`` float on the CPU, 0 on padded unit slots (see ``unit_mask``).
    ``evaluations``: model evaluations per input (one forward of one input; a backward pass counts
    with its forward). ``seconds``: wall time for the whole batch, not counting the prediction that
    resolves the target. ``extras``: method specific
    (``point_scores`` for P-SLA).
    """

    method: str
    units: Units
    scores: torch.Tensor
    target: torch.Tensor | None
    target_names: list[str] | None
    evaluations: float
    seconds: float
    seed: int | None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def unit_mask(self) -> torch.Tensor:
        return self.units.unit_mask.cpu()

    def unit_scores(self, i: int) -> list[float]:
        """The scores of input ``i``'s own units."""
        return self.scores[i, : int(self.units.n_units[i])].tolist()

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready record per input (``units.item(i)`` gives its id and source)."""
        out = []
        n = len(self.scores)
        for i in range(n):
            out.append(
                {
                    **self.units.item(i),
                    "target": self.target_names[i] if self.target_names else None,
                    "method": self.method,
                    "units": self.units.kind,
                    "scores": [round(v, 6) for v in self.unit_scores(i)],
                    "evaluations": self.evaluations,
                    "seconds": round(self.seconds / n, 6),
                    "seed": self.seed,
                }
            )
        return out


def as_batch(sketches: SketchBatch | Sketch | Sequence[Sketch], device: torch.device | str) -> SketchBatch:
    """Accept a batch, one sketch or a list of sketches."""
    if isinstance(sketches, SketchBatch):
        return sketches.to(device)
    if isinstance(sketches, Sketch):
        sketches = [sketches]
    return SketchBatch.from_sketches(list(sketches), device=device)


class Method:
    """Base class: subclasses set ``name`` and implement `scores` on a game."""

    name: ClassVar[str] = ""
    default_units: ClassVar[str] = "stroke"
    #: True when scores are exact or deterministic regardless of the seed.
    uses_seed: ClassVar[bool] = False
    #: True for methods that only work on photos' superpixels (the lime package's image explainer).
    superpixels_only: ClassVar[bool] = False

    def __init__(self, view: Any) -> None:
        self.view = view

    def attribute(
        self,
        sketches: SketchBatch | Sketch | Sequence[Sketch] | Units,
        target: Target = "auto",
        units: str | Units | None = None,
        seed: int = 0,
        score: str = "logit",
        pieces_per_stroke: int | None = 3,
        piece_length: float | None = None,
        **options: Any,
    ) -> Explanation:
        """Score every unit of every input for ``target``. See the class docstring for options.

        ``sketches`` may also be prepared `Units` (then ``units`` and the piece options are ignored).
        """
        device = next(self.view.model.parameters()).device
        if hasattr(sketches, "n_units"):  # prepared units of any kind (strokes, pieces, superpixels)
            unit_set = sketches
        elif isinstance(units, Units):
            unit_set = units
        else:
            batch = as_batch(sketches, device)
            unit_set = make_units(batch, units or self.default_units, pieces_per_stroke, piece_length)
        game = self.view.game(unit_set, target, score)
        game.evaluations = 0  # resolving the target (the prediction) is not part of the method's cost
        start = time.perf_counter()
        scores, extras = self.scores(game, seed=seed, **options)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        scores = torch.where(game.unit_mask, scores, torch.zeros_like(scores)).detach().cpu()
        names = None
        if game.target is not None:
            names = [self.view.class_names[int(t)] for t in game.target]
        return Explanation(
            method=self.name,
            units=unit_set,
            scores=scores.float(),
            target=None if game.target is None else game.target.cpu(),
            target_names=names,
            evaluations=game.evaluations / game.batch_size,
            seconds=seconds,
            seed=seed if self.uses_seed else None,
            extras=extras,
        )

    def scores(self, game: Game, seed: int = 0, **options: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """``(B, K)`` scores for the game's inputs, and method-specific extras."""
        raise NotImplementedError
