"""The learning rate of each step: constant or cosine to 0, with an optional linear warm-up.

The cosine runs over the training's steps or its time budget, whichever is used up first, so a run
cut by the budget still ends annealed. The arithmetic is kept as each model was first trained with,
so the same seed gives the same weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from strokelens.errors import StrokelensError

KINDS = ("cosine", "constant")


@dataclass(frozen=True)
class Schedule:
    """How the learning rate moves from step to step.

    ``warmup_steps`` ramp it linearly from ``lr / warmup_steps`` to ``lr``. With ``warmup_then_cosine``
    (the stroke transformer's) the cosine starts after the warm-up; otherwise (the completion model's)
    the warm-up factor multiplies a cosine that runs over every step.
    """

    kind: str = "cosine"
    warmup_steps: int = 0
    warmup_then_cosine: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise StrokelensError(f"unknown schedule {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.warmup_steps < 0:
            raise StrokelensError(f"warmup_steps must be at least 0, got {self.warmup_steps}")

    def lr(self, base: float, step: int, total: int, elapsed: float | None = None) -> float:
        """The learning rate of step ``step`` (from 0) of ``total``; ``elapsed`` is the used share of
        the time budget (None: no budget)."""
        w = self.warmup_steps
        if self.kind == "constant":
            return base * min(1.0, (step + 1) / w) if w else base
        if w and self.warmup_then_cosine:
            if step < w:
                return base * ((step + 1) / w)
            if elapsed is None or elapsed <= (step - w) / max(1, total - w):
                return base * (0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w))))
            return base * (0.5 * (1 + math.cos(math.pi * min(elapsed, 1.0))))
        done = step / total
        if elapsed is not None:
            done = max(done, elapsed)
        warm = min(1.0, (step + 1) / w) if w else 1.0
        return base * warm * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
