"""SmoothGrad on presence weights: gradients averaged over randomly thinned sketches."""

from __future__ import annotations

import torch

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.base import register
from strokelens.attribution.cost import per_option
from strokelens.attribution.families import GradientAttribution
from strokelens.attribution.seeding import per_input
from strokelens.games import Game


@register
class SmoothGrad(GradientAttribution):
    """Mean gradient at ``samples`` presences ``1 - |N(0, sigma)|`` (clamped to [0, 1]), seeded per
    input (`strokelens.attribution.seeding`): the same for an input whatever batch it is in."""

    name = "smoothgrad"
    uses_seed = True
    cost = per_option("samples")
    listing = 13

    def scores(self, game: Game, *, seed: int = 0, samples: int = 16, sigma: float = 0.2):
        noise = per_input(game.units, seed, lambda gen, n: torch.randn(samples, n, generator=gen)).abs()
        z = (game.full()[:, None, :] - sigma * noise.to(game.dtype)).clamp(0.0, 1.0)
        return presence_gradient(game, z).mean(dim=1), {"samples": samples, "sigma": sigma}
