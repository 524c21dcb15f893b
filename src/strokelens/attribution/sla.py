"""SLA: stroke-level attribution, the gradient of the target w.r.t. each unit's presence at z = 1."""

from __future__ import annotations

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.base import Method, register
from strokelens.games import Game


@register
class SLA(Method):
    """Stroke-level attribution: one forward and one backward pass for the whole batch."""

    name = "sla"

    def scores(self, game: Game, *, seed: int = 0):
        return presence_gradient(game, game.full()), {}
