"""Integrated gradients along presence z from 0 (nothing drawn) to 1 (the whole sketch)."""

from __future__ import annotations

import torch

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.base import register
from strokelens.attribution.cost import per_option
from strokelens.attribution.families import GradientAttribution
from strokelens.errors import StrokelensError
from strokelens.games import Game


@register
class IntegratedGradients(GradientAttribution):
    """Mean gradient at ``steps`` Riemann midpoints of ``alpha * 1``; the scores sum to about
    ``game(1) - game(0)``. ``steps`` evaluations per input, in batched passes."""

    name = "ig"
    cost = per_option("steps")
    interactive = True
    evaluated_on = ("stroke",)
    listing = 12

    def scores(self, game: Game, *, seed: int = 0, steps: int = 16):
        if steps < 1:
            raise StrokelensError(f"steps must be at least 1, got {steps}")
        alphas = (torch.arange(steps, device=game.device, dtype=torch.float32) + 0.5) / steps
        z = alphas[None, :, None] * game.full()[:, None, :]
        return presence_gradient(game, z).mean(dim=1), {"steps": steps}
