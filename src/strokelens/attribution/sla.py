"""SLA: stroke-level attribution, the gradient of the target w.r.t. each unit's presence at z = 1.

``sla`` is the paper's method. ``sla-variant`` measures the choices around it, each at one or two
evaluations: the score space (``attribute(score=...)``: logit, prob, log-prob), where the gradient
is taken (``presence``: ``full`` z = 1, ``half`` z = 0.5, ``full+half`` their mean), how the presence
reaches the pixels (``composition``: ``ink``, the rasteriser's ``1 - prod(1 - z_u c_u)``, or
``additive``, ``d ink / d z_u = C_u``, unit ``u``'s own ink, on the same
image, i.e. no saturation where strokes overlap) and
``pieces`` (> 0: P-SLA on that many pieces per stroke, summed to strokes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.base import check_options, register
from strokelens.attribution.families import GradientAttribution
from strokelens.errors import StrokelensError, check_choice
from strokelens.games import Game
from strokelens.units.strokes import SketchUnits, piece_units

PRESENCES = {"full": (1.0,), "half": (0.5,), "full+half": (1.0, 0.5)}


@register
class SLA(GradientAttribution):
    """Stroke-level attribution: one forward and one backward pass for the whole batch."""

    name = "sla"
    interactive = True
    evaluated_on = ("stroke",)
    listing = 10

    def scores(self, game: Game, *, seed: int = 0):
        return presence_gradient(game, game.full()), {}


def unit_ink(coverage, n_units: int) -> torch.Tensor:
    """``(B, U, H*s*W*s)`` ink of every unit drawn alone, ``1 - prod(1 - c)`` over its own pairs, from a
    raster view's bound coverage (items in order)."""
    b = len(coverage.offsets) - 1
    s = coverage.supersample
    n_pix = coverage.size[0] * s * coverage.size[1] * s
    counts = coverage.offsets[1:] - coverage.offsets[:-1]
    item = torch.repeat_interleave(torch.arange(b, device=coverage.value.device), counts)
    key = (item * n_units + coverage.unit) * n_pix + coverage.pix
    log_t = torch.zeros(b * n_units * n_pix, dtype=coverage.value.dtype, device=coverage.value.device)
    log_t.index_add_(0, key, torch.log1p(-coverage.value.clamp(max=1 - 1e-6)))
    return (1 - log_t.exp()).view(b, n_units, n_pix)


def additive_ink(coverage, z: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` ink ``sum_u z_u C_u`` (``C_u``: unit ``u`` drawn alone, `unit_ink`), linear in
    presence ``z`` ``(B, U)``."""
    s = coverage.supersample
    h, w = coverage.size[0] * s, coverage.size[1] * s
    ink = torch.einsum("bu,bup->bp", z, unit_ink(coverage, z.shape[1]).to(z.dtype)).view(len(z), 1, h, w)
    return F.avg_pool2d(ink, s) if s > 1 else ink


def additive_gradient(game: Game, z: torch.Tensor) -> torch.Tensor:
    """The gradient at presence ``z`` ``(B, K)`` with the model seeing the view's ink-composed image
    but the chain rule running through the additive composition (`additive_ink`)."""
    coverage = game.inputs.get("coverage")
    if coverage is None or not hasattr(game.view, "renderer"):
        raise StrokelensError("additive composition needs a raster sketch view with its ink coverage cached")
    rows = torch.arange(game.batch_size, device=game.device)
    z = z.detach().requires_grad_(True)
    with torch.no_grad():
        image = game.view.renderer.composite(coverage, z, rows)
    # The additive ink coloured as the renderer colours ink (affine), so the chain rule keeps its factor.
    linear = game.view.renderer.colour(additive_ink(coverage, z))
    value = game.scores_of(game.view.model(image + linear - linear.detach()), rows)
    game.count(len(rows))
    (grad,) = torch.autograd.grad(value.sum(), z)
    return grad


#: How presence composes ink for the gradient: the view's own composition, or additive ink.
COMPOSITIONS: dict[str, Callable[[Game, torch.Tensor], torch.Tensor]] = {
    "ink": presence_gradient,
    "additive": additive_gradient,
}


def composed_gradient(game: Game, z: torch.Tensor, composition: str) -> torch.Tensor:
    """The gradient at presence ``z`` ``(B, K)`` with the ``composition`` named (`COMPOSITIONS`)."""
    check_choice("composition", composition, COMPOSITIONS)
    return COMPOSITIONS[composition](game, z)


@register
class SLAVariant(GradientAttribution):
    """SLA's variants (see the module docstring): ``presence`` (``full``, ``half``, ``full+half``: 1,
    1 and 2 evaluations), ``composition`` (``ink`` or ``additive``), ``pieces`` (0: strokes as they
    are; n > 0: gradient on n pieces a stroke, summed per stroke). The score space is ``score``."""

    name = "sla-variant"
    listing = 14

    @classmethod
    def evaluations(cls, k: int, **options) -> float:
        """One evaluation per presence level (``full+half``: 2)."""
        check_options(cls, options)
        return float(len(PRESENCES[options.get("presence", "full")]))

    def scores(
        self, game: Game, *, seed: int = 0, presence: str = "full", composition: str = "ink", pieces: int = 0
    ):
        check_choice("presence", presence, tuple(PRESENCES))
        check_choice("composition", composition, COMPOSITIONS)
        if pieces < 0:
            raise StrokelensError(f"pieces must be 0 (strokes) or a count per stroke, got {pieces}")
        levels = PRESENCES[presence]
        opts = {"presence": presence, "composition": composition, "pieces": pieces}
        if pieces == 0:
            grads = [composed_gradient(game, a * game.full(), composition) for a in levels]
            return torch.stack(grads).mean(0), opts
        units = game.units
        if not isinstance(units, SketchUnits) or not units.whole_strokes:
            raise StrokelensError(
                "pieces > 0 pools pieces to strokes: it needs stroke units of a sketch view"
            )
        if game.target is None:
            raise StrokelensError("pieces > 0 needs class targets, not a callable")
        cut = piece_units(units.batch, pieces_per_stroke=pieces)
        sub = game.view.game(cut, game.target, game.score)
        sub.evaluations = 0
        grads = torch.stack([composed_gradient(sub, a * sub.full(), composition) for a in levels]).mean(0)
        game.count(sub.evaluations)
        stroke = cut.unit_stroke.to(grads.device)
        ok = stroke >= 0
        out = torch.zeros(game.batch_size, game.max_units, dtype=grads.dtype, device=grads.device)
        flat = (
            stroke.clamp(min=0) + game.max_units * torch.arange(game.batch_size, device=grads.device)[:, None]
        )[ok]
        out.view(-1).index_add_(0, flat, grads[ok])
        return out, opts
