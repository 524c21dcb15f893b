"""Kernel SHAP on units: Captum's `KernelShap` with binary presence perturbations of the game."""

from __future__ import annotations

from strokelens.attribution._captum import captum_on_game
from strokelens.attribution.base import register
from strokelens.attribution.cost import per_option
from strokelens.attribution.families import PerturbationAttribution
from strokelens.games import Game


@register
class KernelShap(PerturbationAttribution):
    """Captum Kernel SHAP with ``n_samples`` coalitions drawn from the Shapley kernel. Seeded."""

    name = "kernelshap"
    uses_seed = True
    cost = per_option("n_samples")
    evaluated_on = ("stroke", "superpixel")
    listing = 51

    def scores(self, game: Game, *, seed: int = 0, n_samples: int = 1000):
        from captum.attr import KernelShap as CaptumKernelShap  # on use: see lime.py

        return captum_on_game(game, CaptumKernelShap, seed, n_samples), {"n_samples": n_samples}
