"""What flows through the runner: a prepared `Batch` of inputs and the method's `BatchResult` on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from strokelens.explanation import Explanation
    from strokelens.metrics import Curves
    from strokelens.units.base import Units


@dataclass
class Batch:
    """Inputs ``start .. start + len(inputs) - 1`` of a run, prepared: their units and their target.
    ``tags``: whatever the caller keeps beside each input (a job: where it came from)."""

    start: int
    inputs: list[Any]
    units: Units
    target: Any
    tags: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class BatchResult:
    """A method's work on one batch: the explanation of the inputs at ``rows`` (those within its unit
    limit; None when there is none), their curves when asked for, and the method's seconds."""

    batch: Batch
    explanation: Explanation | None
    rows: torch.Tensor
    curves: Curves | None = None
    seconds: float = 0.0

    @property
    def skipped(self) -> list[int]:
        """Places in the batch of the inputs over the method's unit limit."""
        kept = set(self.rows.tolist())
        return [i for i in range(len(self.batch)) if i not in kept]
