"""Gradient-weighted superpixels (GWS): the gradient of the target w.r.t. each superpixel's presence.

On an `ImageView` the model sees ``x * M(z) + base * (1 - M(z))``, so the gradient at ``z = 1`` is,
for superpixel ``k``, the sum over its pixels of ``dF/dx * (x - base)``: gradient x input, pooled per
superpixel. It is SLA on superpixel units, scored with the same helper, in one forward and one
backward pass for the whole batch. ``gws-ig`` and ``gws-smoothgrad`` are integrated gradients and
SmoothGrad on the same presence weights (the ``ig``/``smoothgrad`` methods under superpixel names).
"""

from __future__ import annotations

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.base import Method, register
from strokelens.attribution.integrated_gradients import IntegratedGradients
from strokelens.attribution.smoothgrad import SmoothGrad
from strokelens.games import Game


@register
class GWS(Method):
    """Gradient-weighted superpixels: one forward and one backward pass for the whole batch."""

    name = "gws"

    def scores(self, game: Game, *, seed: int = 0):
        return presence_gradient(game, game.full()), {}


@register
class GWSIntegratedGradients(IntegratedGradients):
    """GWS along the path from all superpixels hidden (the baseline image) to the photo: ``steps``
    forward/backward passes per input; scores sum to about ``game(1) - game(0)``."""

    name = "gws-ig"


@register
class GWSSmoothGrad(SmoothGrad):
    """GWS averaged over ``samples`` randomly thinned presences ``1 - |N(0, sigma)|``, seeded."""

    name = "gws-smoothgrad"
