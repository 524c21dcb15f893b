"""Transfer: do drawings attacked on one model fool another? Any model reads any drawing through
its own view (its own preprocessing), so a drawing attacked on DoodleNet can be shown to the stroke
transformer and back."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from strokelens.games import normalise_class_name
from strokelens.sketch import Sketch
from strokelens.views.base import View


def classify(view: View, sketches: Sequence[Sketch], batch_size: int = 256) -> list[str]:
    """The class name ``view``'s model reads in each drawing (prepared the model's own way)."""
    names: list[str] = []
    prepared = view.prepare(list(sketches))
    for lo in range(0, len(prepared), batch_size):
        units = view.units_for(prepared[lo : lo + batch_size], "stroke")
        with torch.no_grad():
            game = view.game(units)
        names.extend(view.class_names[int(c)] for c in game.full_outputs.argmax(1))
    return names


def transfer_fooled(
    view: View, originals: Sequence[Sketch], attacked: Sequence[Sketch], labels: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """For another model (``view``): ``(eligible, fooled)``, both ``(B,)`` bool. ``eligible``: the
    model reads the original drawing as its label; ``fooled``: eligible, and it reads the attacked
    drawing as something else. Labels are compared by `normalise_class_name`."""
    key = [normalise_class_name(x) for x in labels]
    before = [normalise_class_name(x) for x in classify(view, originals)]
    after = [normalise_class_name(x) for x in classify(view, attacked)]
    eligible = torch.tensor([b == k for b, k in zip(before, key, strict=True)])
    fooled = eligible & torch.tensor([a != k for a, k in zip(after, key, strict=True)])
    return eligible, fooled
