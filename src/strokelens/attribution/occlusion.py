"""Occlusion: each unit removed alone; its score is how much the target drops."""

from __future__ import annotations

import torch

from strokelens.attribution.base import register
from strokelens.attribution.cost import EACH_UNIT
from strokelens.attribution.families import PerturbationAttribution
from strokelens.games import Game


@register
class Occlusion(PerturbationAttribution):
    """``game(1) - game(1 - e_k)`` for every unit ``k``: K + 1 evaluations per input, batched."""

    name = "occlusion"
    cost = EACH_UNIT
    interactive = True
    evaluated_on = ("stroke", "superpixel")
    listing = 30

    def scores(self, game: Game, *, seed: int = 0):
        k = game.max_units
        eye = torch.eye(k, device=game.device)
        z = torch.cat([game.full()[:, None, :], (1 - eye)[None].expand(game.batch_size, k, k)], dim=1)
        valid = torch.cat([torch.ones_like(game.unit_mask[:, :1]), game.unit_mask], dim=1)
        with torch.no_grad():
            values = game(z, valid)
        return values[:, :1] - values[:, 1:], {}
