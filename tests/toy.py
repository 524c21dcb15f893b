"""Closed-form games for tests: units that are only counts, and views whose outputs are simple
functions of z (so exact answers are known)."""

from __future__ import annotations

from typing import Any

import torch

from strokelens.units.base import Units
from strokelens.views.base import View


class CountUnits(Units):
    """Units that are only a count per input."""

    kind = "toy"
    KINDS = ("toy",)

    def __init__(self, n) -> None:
        self.n_units = torch.as_tensor(n)

    def item(self, i: int) -> dict[str, Any]:
        return {"id": str(i), "source": None}

    def to(self, device) -> CountUnits:
        return self

    def select(self, rows) -> CountUnits:
        return CountUnits(self.n_units[torch.as_tensor(list(rows))])

    def unit_lengths(self) -> torch.Tensor:
        return self.unit_mask.float()


class FunctionView(View):
    """A view whose outputs are ``fn(z, rows)`` with one output column named ``only``."""

    units_type = CountUnits
    class_names = ("only",)
    model = torch.nn.Identity()

    def bind(self, units: Units) -> dict[str, Any]:
        return {}

    def make_units(self, inputs, **options: Any) -> Units:
        return CountUnits(inputs)


class LinearView(FunctionView):
    """Model output linear in z: the exact Shapley value of unit k is its weight."""

    def __init__(self, weights: torch.Tensor) -> None:
        self.weights = weights

    def outputs(self, z, rows):
        return (z * self.weights[rows]).sum(-1, keepdim=True)


class QuadraticView(FunctionView):
    """Model output ``(w . z)^2``."""

    def __init__(self, weights: torch.Tensor) -> None:
        self.weights = weights

    def outputs(self, z, rows):
        return ((z * self.weights[rows]).sum(-1, keepdim=True)) ** 2
