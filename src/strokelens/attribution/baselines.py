"""Baseline "explanations" that use no model: what a real method must beat."""

from __future__ import annotations

import torch

from strokelens.attribution.base import register
from strokelens.attribution.families import BaselineAttribution
from strokelens.attribution.seeding import per_input
from strokelens.games import Game


@register
class RandomScores(BaselineAttribution):
    """Uniform random scores, seeded per input (`strokelens.attribution.seeding`): the same for an
    input whatever batch it is in."""

    name = "random"
    uses_seed = True
    evaluated_on = ("stroke", "superpixel")
    listing = 70

    def scores(self, game: Game, *, seed: int = 0):
        return per_input(game.units, seed, lambda gen, n: torch.rand(n, generator=gen)), {}


@register
class StrokeLength(BaselineAttribution):
    """Longer units score higher: each unit's arc length."""

    name = "length"
    evaluated_on = ("stroke",)
    listing = 71

    def scores(self, game: Game, *, seed: int = 0):
        return game.units.unit_lengths().float(), {}


@register
class DrawingOrder(BaselineAttribution):
    """Earlier units score higher (people draw the important strokes first): ``1 - index / K``."""

    name = "order"
    listing = 72

    def scores(self, game: Game, *, seed: int = 0):
        idx = torch.arange(game.max_units, device=game.device, dtype=torch.float32)
        return (1 - idx[None] / game.n_units[:, None].float()).expand(game.batch_size, -1).clone(), {}
