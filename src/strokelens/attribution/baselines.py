"""Baseline "explanations" that use no model: what a real method must beat."""

from __future__ import annotations

import torch

from strokelens.attribution.base import Method, register
from strokelens.games import Game


@register
class RandomScores(Method):
    """Uniform random scores, seeded."""

    name = "random"
    uses_seed = True

    def scores(self, game: Game, *, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(game.batch_size, game.max_units, generator=gen).to(game.device), {}


@register
class StrokeLength(Method):
    """Longer units score higher: each unit's arc length."""

    name = "length"

    def scores(self, game: Game, *, seed: int = 0):
        return game.units.unit_lengths().float(), {}


@register
class DrawingOrder(Method):
    """Earlier units score higher (people draw the important strokes first): ``1 - index / K``."""

    name = "order"

    def scores(self, game: Game, *, seed: int = 0):
        idx = torch.arange(game.max_units, device=game.device, dtype=torch.float32)
        return (1 - idx[None] / game.n_units[:, None].float()).expand(game.batch_size, -1).clone(), {}
