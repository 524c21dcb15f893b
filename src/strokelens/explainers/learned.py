"""Learned explainers as methods: ``wys`` masks and ``fastshap`` Shapley values in one forward pass.

Both load the explainer trained for the view's model (the shipped one, or ``weights=PATH`` from
`strokelens train explainer`: its files or the folder ``--out`` wrote) and refuse a model, unit kind
or score it was not trained for. A geometry-only sketch explainer makes no model evaluations (the
prediction that names the target is not counted, as for every method); one that reads the frozen
model's features (DoodleNet's, and every photo explainer) costs one evaluation, and ``fastshap`` on
photos also scores the empty photo (one more).

Every explanation carries each input's uncertainty (``extras["uncertainty"]``: the spread of the
explainer's ensemble members, 0 for one member). ``fallback=F`` hands the ``ceil(F x B)`` least
certain inputs of each batch of ``B`` to occlusion (``K`` evaluations each, the full input's output
being the prediction's); ``extras["fallback"]`` marks them, and their evaluations are the method's cost.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from strokelens.attribution.base import register
from strokelens.attribution.cost import Cost
from strokelens.attribution.families import LearnedAttribution
from strokelens.errors import StrokelensError
from strokelens.explainers.explainer import Explainer
from strokelens.explainers.explainer_kinds import MASKS, VALUES, ExplainerKind
from strokelens.games import Game

if TYPE_CHECKING:
    from strokelens.views.base import View

#: Loaded explainers by (model, kind, units, weights): loading reads files and hashes the model.
_CACHE: dict[tuple[int, str, str, str], Explainer] = {}


def loaded_explainer(view: View, kind: str, units: str, weights: str = "shipped") -> Explainer:
    """The explainer of ``kind`` for ``view``'s model and ``units`` (a unit kind): shipped, or loaded
    from ``weights``; loaded once."""
    key = (id(view.model), kind, units, str(weights))
    if key not in _CACHE:
        _CACHE[key] = Explainer.from_weights(view, kind, weights, units)
    return _CACHE[key]


def explainer_for(game: Game, kind: str, weights: str = "shipped") -> Explainer:
    """The explainer of ``kind`` for the game's view and units: shipped, or loaded from ``weights``."""
    return loaded_explainer(game.view, kind, game.units.kind, weights)


def occlusion_rows(game: Game, rows: torch.Tensor) -> torch.Tensor:
    """Occlusion scores ``(R, K)`` of the game's inputs ``rows``: ``v(N) - v(N - {k})`` for each of
    their units, ``v(N)`` from the prediction's outputs (``K`` evaluations an input)."""
    k = game.max_units
    n = game.n_units[rows]
    unit = torch.arange(k, device=game.device)
    pairs = (unit[None] < n[:, None]).nonzero()  # (M, 2): (item, unit) of every real unit
    z = torch.ones(len(pairs), k, device=game.device, dtype=game.dtype)
    z[torch.arange(len(pairs)), pairs[:, 1]] = 0
    which = rows[pairs[:, 0]]
    with torch.no_grad():
        full = game.scores_of(game.full_outputs[which], which)
        step = game.max_rows
        left = [game.value(z[i : i + step], which[i : i + step]) for i in range(0, len(z), step)]
    out = torch.zeros(len(rows), k, device=game.device, dtype=full.dtype)
    if left:
        out[pairs[:, 0], pairs[:, 1]] = full - torch.cat(left)
    return out


class _Learned(LearnedAttribution):
    #: The explainer kind it loads (its name is the method's).
    kind: ClassVar[ExplainerKind]
    interactive = True
    evaluated_on = ("stroke", "superpixel")
    cost = Cost(per_unit=1.0, scale="fallback")

    def evaluations_on(self, units: str, k: int, **options: Any) -> float:
        """The occlusion fallback's share (`evaluations`) plus what the explainer for this view's
        model costs every input (`Explainer.evaluations`: its feature pass, photos' empty input)."""
        fallback_cost = self.evaluations(k, **options)  # checks the options before loading weights
        explainer = loaded_explainer(self.view, self.kind.name, units, options.get("weights", "shipped"))
        return fallback_cost + explainer.evaluations

    def scores(self, game: Game, *, seed: int = 0, weights: str = "shipped", fallback: float = 0.0):
        if not 0.0 <= fallback <= 1.0:
            raise StrokelensError(f"fallback is a share of the inputs, 0 to 1, not {fallback}")
        explainer = explainer_for(game, self.kind.name, weights)
        scores, doubt = explainer.explain(game)
        chosen = torch.zeros(game.batch_size, dtype=torch.bool, device=scores.device)
        n = math.ceil(fallback * game.batch_size - 1e-9)
        if n:
            rows = doubt.argsort(descending=True, stable=True)[:n]
            scores = scores.clone()
            scores[rows] = occlusion_rows(game, rows).to(scores.dtype)
            chosen[rows] = True
        return scores, {
            "explainer": explainer.info.model,
            "uncertainty": doubt.cpu(),
            "fallback": chosen.cpu(),
        }


@register
class Wys(_Learned):
    """Class-specific mask logits from a trained mask explainer (Stalder et al., NeurIPS 2022)."""

    name = MASKS.name
    kind = MASKS
    training_needs_gradients = True
    listing = 41


@register
class FastSHAP(_Learned):
    """Shapley value estimates from a trained FastSHAP explainer (Jethani et al., ICLR 2022)."""

    name = VALUES.name
    kind = VALUES
    listing = 40
