"""What a method costs: model evaluations per input as a function of its K units and its options.

A `Cost` is ``constant + per_unit * K (+ 2^K when exponential) (+ the value of an option)``, times the
value of a ``scale`` option when it has one: occlusion is ``K + 1``, exact Shapley ``2^K``, integrated
gradients ``steps``, a learned explainer ``fallback x K`` (the share of inputs it hands to occlusion;
the explainer for a given model may add its own passes: `Method.evaluations_on`). The
`Explanation` a method returns records what it really cost; tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cost:
    """Model evaluations per input for ``K`` units: ``constant + per_unit * K``, plus ``2^K`` when
    ``exponential``, plus the value of the option named ``option`` (``steps``, ``n_samples``)."""

    constant: float = 0.0
    per_unit: float = 0.0
    exponential: bool = False
    option: str | None = None
    #: An option whose value multiplies the whole (a share of the inputs that pay it).
    scale: str | None = None

    def __call__(self, k: int, options: Mapping[str, Any] | None = None) -> float:
        """The evaluations per input at ``k`` units with ``options`` (the method's defaults filled in)."""
        total = self.constant + self.per_unit * k + (2.0**k if self.exponential else 0.0)
        if self.option is not None:
            total += float((options or {})[self.option])
        if self.scale is not None:
            total *= float((options or {})[self.scale])
        return float(total)

    def __str__(self) -> str:
        terms = [
            "2^K" if self.exponential else "",
            "" if not self.per_unit else ("K" if self.per_unit == 1 else f"{self.per_unit:g}K"),
            self.option or "",
            f"{self.constant:g}"
            if self.constant or not (self.exponential or self.per_unit or self.option)
            else "",
        ]
        text = " + ".join(t for t in terms if t)
        if self.scale is None:
            return text
        return f"{self.scale} x ({text})" if "+" in text else f"{self.scale} x {text}"


#: No model evaluation: model-free baselines, learned explainers on sketches.
FREE = Cost()
#: One forward (and backward) pass.
ONE = Cost(1.0)
#: Each unit removed alone, and the whole input: ``K + 1``.
EACH_UNIT = Cost(1.0, 1.0)
#: Every coalition: ``2^K``.
EVERY_COALITION = Cost(exponential=True)


def per_option(name: str) -> Cost:
    """As many evaluations as the option ``name`` says (``steps``, ``samples``, ``n_samples``)."""
    return Cost(option=name)
