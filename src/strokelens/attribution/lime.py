"""LIME on units: Captum's `Lime` with binary presence perturbations of the game."""

from __future__ import annotations

from strokelens.attribution._captum import captum_on_game
from strokelens.attribution.base import register
from strokelens.attribution.cost import per_option
from strokelens.attribution.families import PerturbationAttribution
from strokelens.games import Game


@register
class Lime(PerturbationAttribution):
    """Captum LIME: ``n_samples`` random coalitions, weighted by an exponential cosine kernel, fitted
    with ridge regression (``alpha``, as the lime package does). Seeded."""

    name = "lime"
    uses_seed = True
    cost = per_option("n_samples")
    evaluated_on = ("stroke", "superpixel")
    listing = 50

    def scores(self, game: Game, *, seed: int = 0, n_samples: int = 1000, alpha: float = 1.0):
        # Captum is imported on use: it costs about a second at start-up (matplotlib), which every
        # command and dataset job would pay for a method most never run
        from captum._utils.models.linear_model import SkLearnRidge
        from captum.attr import Lime as CaptumLime

        def make(forward):
            return CaptumLime(forward, interpretable_model=SkLearnRidge(alpha=alpha))

        return captum_on_game(game, make, seed, n_samples), {"n_samples": n_samples}
