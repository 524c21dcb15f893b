"""`Explanation`: the result every attribution method returns.

A score per unit for every input, the target, what it cost (model evaluations, seconds) and the seed;
`record` and `records` make JSON-ready rows of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from strokelens.units.base import Units


@dataclass(eq=False)
class Explanation:
    """Per-unit scores for a batch, with the cost and settings that produced them.

    ``scores``: ``(B, K)`` float on the CPU, 0 on padded unit slots (see ``unit_mask``).
    ``evaluations``: model evaluations per input (one forward of one input; a backward pass counts
    with its forward). ``seconds``: wall time for the whole batch, not counting the prediction that
    resolves the target. ``extras``: method specific (``point_scores`` for P-SLA; a learned
    explainer's per-input ``uncertainty`` and ``fallback``); `record` carries the JSON-ready ones.
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

    def record(self, i: int) -> dict[str, Any]:
        """A JSON-ready record of input ``i`` (``units.item(i)`` gives its id and source)."""
        record = {
            **self.units.item(i),
            "target": self.target_names[i] if self.target_names else None,
            "method": self.method,
            "units": self.units.kind,
            "scores": [round(v, 6) for v in self.unit_scores(i)],
            "evaluations": self.evaluations,
            "seconds": round(self.seconds / len(self.scores), 6),
            "seed": self.seed,
        }
        return record | {k: v for k, v in self.record_extras(i).items() if k not in record}

    def record_extras(self, i: int) -> dict[str, Any]:
        """The extras that belong in input ``i``'s record: settings (a string, number or flag, such
        as gws's ``pixel``) as they are, and per-input values (one a row, such as a learned
        explainer's ``uncertainty``) at row ``i``; anything larger (P-SLA's point scores) is left out."""
        out: dict[str, Any] = {}
        for key, value in self.extras.items():
            if isinstance(value, str | bool | int | float):
                out[key] = value
            elif isinstance(value, torch.Tensor) and value.shape == (len(self.scores),):
                item = value[i].item()
                out[key] = round(item, 6) if isinstance(item, float) else item
        return out

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready record per input."""
        return [self.record(i) for i in range(len(self.scores))]
