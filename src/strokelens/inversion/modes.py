"""The inversion's two modes as objects: `RECOVER` (strokes scattered by noise, optimised back toward
the true label) and `TRANSFER` (strokes at their true places, optimised toward another class). Each
knows where the locations start and what the goal classes are, so `invert` and the CLI ask the mode."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.games import class_index, class_indices
from strokelens.inversion.problem import LocationProblem, noisy_locations
from strokelens.sketch import Sketch

#: A goal: a class name or index, one for every sketch, or one per sketch.
Goal = int | str | Sequence[int | str] | torch.Tensor | None
#: Lowest and highest allowed locations ``(B, S, 2)`` each, or None for no bound.
Bounds = tuple[torch.Tensor, torch.Tensor] | None


class InversionMode(ABC):
    """One inversion mode; ``name`` is `invert`'s ``mode`` and ``done`` the word for a success."""

    name: ClassVar[str]
    done: ClassVar[str]
    #: Whether it takes goal classes (``to``).
    takes_goal: ClassVar[bool]

    def __reduce__(self) -> tuple[Callable[[str], InversionMode], tuple[str]]:  # the one instance
        return inversion_mode, (self.name,)

    @abstractmethod
    def start(
        self, problem: LocationProblem, gen: torch.Generator, sigma: float, noise: str, bounds: Bounds
    ) -> torch.Tensor:
        """The starting locations ``(B, S, 2)``, inside ``bounds`` (`LocationProblem.location_bounds`,
        computed once by the caller) where given."""

    @abstractmethod
    def goals(
        self,
        to: Goal,
        true_class: torch.Tensor,
        classes: torch.Tensor,
        sketches: list[Sketch],
        names: list[str],
        gen: torch.Generator,
    ) -> torch.Tensor:
        """The goal class of each sketch ``(B,)`` (``true_class``: -1 where the model lacks the label;
        ``classes``: those the inversion is restricted to)."""


class Recover(InversionMode):
    """Gaussian locations (``noise``) optimised back toward each sketch's true label."""

    name = "recover"
    done = "recovered"
    takes_goal = False

    def start(
        self, problem: LocationProblem, gen: torch.Generator, sigma: float, noise: str, bounds: Bounds
    ) -> torch.Tensor:
        true = problem.true_locations
        eps = torch.randn(true.shape, generator=gen).to(true.device, true.dtype)
        return noisy_locations(true, problem.centre, problem.n_strokes, eps, sigma, noise, bounds)

    def goals(self, to, true_class, classes, sketches, names, gen) -> torch.Tensor:
        if to is not None:
            raise StrokelensError("recovery optimises toward the true label; 'to' is for transfer")
        missing = (true_class < 0).nonzero().flatten().tolist()
        if missing:
            s = sketches[missing[0]]
            raise StrokelensError(
                f"{s.source or 'sketch ' + str(missing[0])}: recovery needs a label the model knows, "
                f"got {s.label!r}"
            )
        return true_class


class Transfer(InversionMode):
    """True locations optimised toward ``to`` (default: a random other class, seeded)."""

    name = "transfer"
    done = "transferred"
    takes_goal = True

    def start(
        self, problem: LocationProblem, gen: torch.Generator, sigma: float, noise: str, bounds: Bounds
    ) -> torch.Tensor:
        start = problem.true_locations.clone()
        if bounds is not None:
            start = torch.minimum(torch.maximum(start, bounds[0]), bounds[1])
        return start

    def goals(self, to, true_class, classes, sketches, names, gen) -> torch.Tensor:
        b = len(sketches)
        if to is None:  # a random class other than the true one (uniform over the allowed classes)
            k = len(classes)
            pos = torch.randint(0, k - 1, (b,), generator=gen)
            in_cls = (classes[None] == true_class[:, None]).int().argmax(1)
            known = (classes[None] == true_class[:, None]).any(1)
            pos = torch.where(known & (pos >= in_cls), pos + 1, pos)
            return classes[pos]
        if isinstance(to, torch.Tensor):
            to = to.tolist()
        if isinstance(to, (int, str, np.integer)):
            return torch.full((b,), class_index(to, names), dtype=torch.long)
        to = list(to)
        if len(to) != b:
            raise StrokelensError(f"{len(to)} transfer goals given for {b} sketches")
        return torch.tensor(class_indices(to, names), dtype=torch.long)


RECOVER, TRANSFER = Recover(), Transfer()
#: The modes by name.
INVERSION_MODES: dict[str, InversionMode] = {m.name: m for m in (RECOVER, TRANSFER)}
#: Their names.
MODES: tuple[str, ...] = tuple(INVERSION_MODES)


def inversion_mode(name: str) -> InversionMode:
    """The mode called ``name``; any other is refused with the list."""
    if name not in INVERSION_MODES:
        raise StrokelensError(f"unknown inversion mode {name!r}; expected one of {', '.join(MODES)}")
    return INVERSION_MODES[name]
