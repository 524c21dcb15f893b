"""Learned explainers as methods: ``wys`` masks and ``fastshap`` Shapley values in one forward pass.

Both load the explainer trained for the view's model (the shipped one, or ``weights=PATH`` from
`strokelens train explainer`) and refuse a model, unit kind or score it was not trained for. They make
no model evaluations on sketches (the prediction that names the target is not counted, as for every
method); on photos the explainer reads the frozen model's features (one evaluation), and ``fastshap``
also scores the empty photo (one more).
"""

from __future__ import annotations

from typing import ClassVar

from strokelens.attribution.base import register
from strokelens.attribution.families import LearnedAttribution
from strokelens.errors import StrokelensError
from strokelens.explainers.explainer import Explainer, shipped
from strokelens.games import Game

#: Loaded explainers by (model, kind, units, weights): loading reads files and hashes the model.
_CACHE: dict[tuple[int, str, str, str], Explainer] = {}


def explainer_for(game: Game, kind: str, weights: str = "shipped") -> Explainer:
    """The explainer of ``kind`` for the game's view and units: shipped, or loaded from ``weights``."""
    key = (id(game.view.model), kind, game.units.kind, weights)
    if key not in _CACHE:
        if weights == "shipped":
            explainer = shipped(game.view, kind, game.units.kind)
        else:
            explainer = Explainer.load(weights, game.view)
            if explainer.info.kind != kind:
                raise StrokelensError(f"{weights} holds a {explainer.info.kind} explainer, not {kind}")
        _CACHE[key] = explainer
    return _CACHE[key]


class _Learned(LearnedAttribution):
    kind: ClassVar[str] = ""
    interactive = True
    evaluated_on = ("stroke", "superpixel")

    def scores(self, game: Game, *, seed: int = 0, weights: str = "shipped"):
        explainer = explainer_for(game, self.kind, weights)
        return explainer.scores(game), {"explainer": explainer.info.model}


@register
class Wys(_Learned):
    """Class-specific mask logits from a trained mask explainer (Stalder et al., NeurIPS 2022)."""

    name = "wys"
    kind = "wys"
    training_needs_gradients = True
    listing = 41


@register
class FastSHAP(_Learned):
    """Shapley value estimates from a trained FastSHAP explainer (Jethani et al., ICLR 2022)."""

    name = "fastshap"
    kind = "fastshap"
    listing = 40
