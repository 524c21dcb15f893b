"""Gradient-weighted superpixels (GWS): pixel scores of the model's gradient, pooled per superpixel.

Hartley et al. (2019) score superpixels "through gradient based pixel scoring techniques". ``gws``
takes any technique x aggregation of `strokelens.attribution.pixel_scores` as options; its default is
the one measured closest to ``lime_image`` at <= 16 model evaluations and >= 50x faster than it on
100 real photos (Tiny Darknet): presence gradients averaged over 14 stratified random coalitions,
pooled by sum, the model calls in bfloat16 where the hardware computes it (`DEFAULT_PIXEL`,
`DEFAULT_AGGREGATE` from ``benchmarks/superpixels.py``; sampler, count and precision from
``benchmarks/gws_samplers.py``: median Spearman 0.75 with lime_image, whose own second seed reaches
0.81, 55x faster than lime_image in float32, 40x than lime_image in bfloat16; Grad-CAM by sum, the
default before, 0.54).
``pixel="presence", aggregate="sum"`` is the gradient w.r.t. superpixel presence at z = 1, i.e.
``sum_k dF/dx * (x - base)`` over superpixel ``k``'s pixels (SLA on superpixel units; the default before
Grad-CAM, at 0.17). ``swag`` is SWAG (Hartley et al., WACV 2021): superpixels weighted by their
mean absolute gradient. ``gws-ig`` and ``gws-smoothgrad`` are integrated gradients and SmoothGrad on
the same presence weights (the ``ig``/``smoothgrad`` methods under superpixel names).
``pixel="coalition", aggregate="sum"`` is the gradient w.r.t. presence averaged over ``samples``
random coalitions (``sampler``: fractional presences, ``uniform``, ``stratified`` (the photos'
default) or ``antithetic``, or lime_image's fair coins; ``weighted``: lime's kernel; ``seed``): an
estimate of each superpixel's average effect over random coalitions, which LIME's linear fit
approaches (docs/variants.md). ``precision``: the model calls' arithmetic
(`strokelens.attribution.precision`).
"""

from __future__ import annotations

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.base import check_options, register
from strokelens.attribution.coalitions import SAMPLERS
from strokelens.attribution.families import GradientAttribution
from strokelens.attribution.integrated_gradients import IntegratedGradients
from strokelens.attribution.pixel_scores import AGGREGATES, pixel_scores, technique
from strokelens.attribution.pixel_scores import aggregate as aggregate_pixels
from strokelens.attribution.precision import autocast, resolve_precision
from strokelens.attribution.smoothgrad import SmoothGrad
from strokelens.errors import check_choice
from strokelens.games import Game
from strokelens.units.superpixels import SuperpixelUnits
from strokelens.views.image import AUTO, ImageView

#: ``gws``'s default technique and aggregation: ``benchmarks/results/superpixels.json``'s ``gws_pixel``
#: and ``gws_aggregate`` (a test holds them equal).
DEFAULT_PIXEL = ImageView.gws_default.pixel
DEFAULT_AGGREGATE = ImageView.gws_default.aggregate


@register
class GWS(GradientAttribution):
    """Gradient-weighted superpixels. ``pixel``: one of `PIXEL_SCORES`; ``aggregate``: one of
    `AGGREGATES`; ``steps`` (integrated gradients), ``samples`` (SmoothGrad copies, coalitions),
    ``sigma`` (SmoothGrad noise, in [0, 1] pixel units), ``sampler`` and ``weighted`` (``coalition``:
    see `strokelens.attribution.pixel_scores` and `strokelens.attribution.coalitions`),
    ``precision`` of the model calls (``float32``, ``bfloat16`` or ``fast``:
    `strokelens.attribution.precision`). Evaluations per photo: ``steps``
    for ``ig-*``, ``samples`` for ``smoothgrad`` and ``coalition``, else 1. Default (``"auto"``,
    ``samples=0``, ``precision="auto"``): the view's measured `GwsDefault`: on photos `coalition`
    pooled by sum over 14 stratified samples in ``fast`` precision (`DEFAULT_PIXEL`,
    `DEFAULT_AGGREGATE`; 14 evaluations in batched backwards), on clips presence gradients averaged
    over 4 uniform random coalitions in float32; any other technique in float32 unless asked."""

    name = "gws"
    units_type = SuperpixelUnits
    evaluated_on = ("superpixel",)
    listing = 20

    @classmethod
    def evaluations(cls, k: int, **options) -> float:
        """``steps`` for ``ig-*``, ``samples`` for ``smoothgrad`` and ``coalition``, else 1 (defaults:
        photos')."""
        check_options(cls, options)
        pixel, _, samples, _ = ImageView.gws_default.resolve(
            options.get("pixel", AUTO), AUTO, options.get("samples", 0)
        )
        return float(technique(pixel).evaluations(options.get("steps", 16), samples))

    def scores(
        self,
        game: Game,
        *,
        seed: int = 0,
        pixel: str = AUTO,
        aggregate: str = AUTO,
        steps: int = 16,
        samples: int = 0,
        sigma: float = 0.15,
        sampler: str = AUTO,
        weighted: bool = False,
        precision: str = AUTO,
    ):
        default = getattr(game.view, "gws_default", ImageView.gws_default)  # measured per kind of input
        pixel, aggregate, samples, sampler = default.resolve(pixel, aggregate, samples, sampler)
        chosen = technique(pixel)
        check_choice("aggregate", aggregate, AGGREGATES)
        check_choice("sampler", sampler, SAMPLERS)
        precision = resolve_precision(default.precision_for(pixel, precision), game.device)
        if chosen.summed_is_presence_gradient and AGGREGATES[aggregate].signed_sum:
            with autocast(precision, game.device):
                return presence_gradient(game, game.full()), {"precision": precision}
        pixels = pixel_scores(game, pixel, steps, samples, sigma, seed, sampler, weighted, precision)
        extras = {"pixel": pixel, "aggregate": aggregate, "precision": precision}
        if chosen.draws_coalitions:
            extras |= {"samples": samples, "sampler": sampler, "weighted": weighted}
        return aggregate_pixels(
            pixels, game.units.labels.to(pixels.device), game.max_units, aggregate
        ), extras


def _pooled(game: Game, pixel: str, how: str, steps: int, samples: int, sigma: float, seed: int):
    pixels = pixel_scores(game, pixel, steps=steps, samples=samples, sigma=sigma, seed=seed)
    return aggregate_pixels(pixels, game.units.labels.to(pixels.device), game.max_units, how)


@register
class SWAG(GradientAttribution):
    """SWAG: each superpixel's mean absolute gradient ``|dF/dx|`` (summed over colour channels);
    ``pixel`` may name another technique of `PIXEL_SCORES`. One forward and one backward pass."""

    name = "swag"
    units_type = SuperpixelUnits
    listing = 23

    @classmethod
    def evaluations(cls, k: int, **options) -> float:
        check_options(cls, options)
        return float(technique(options.get("pixel", "gradient")).evaluations(16, 16))

    def scores(self, game: Game, *, seed: int = 0, pixel: str = "gradient"):
        return _pooled(game, pixel, "abs-mean", 16, 16, 0.15, seed), {"pixel": pixel}


@register
class GWSIntegratedGradients(IntegratedGradients):
    """GWS along the path from all superpixels hidden (the baseline image) to the photo: ``steps``
    forward/backward passes per input; scores sum to about ``game(1) - game(0)``."""

    name = "gws-ig"
    interactive = False
    evaluated_on = ("superpixel",)
    listing = 21


@register
class GWSSmoothGrad(SmoothGrad):
    """GWS averaged over ``samples`` randomly thinned presences ``1 - |N(0, sigma)|``, seeded."""

    name = "gws-smoothgrad"
    listing = 22
