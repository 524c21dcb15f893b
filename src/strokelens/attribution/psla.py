"""P-SLA: partial-stroke attribution on stroke pieces, plus point-level scores from the gradient
w.r.t. point coordinates (how strongly moving each point would change the target)."""

from __future__ import annotations

import torch

from strokelens.attribution.base import register
from strokelens.attribution.families import GradientAttribution
from strokelens.errors import StrokelensError
from strokelens.games import Game


@register
class PSLA(GradientAttribution):
    """Gradient w.r.t. piece presence at z = 1; ``extras["point_scores"]`` holds ``|dF/dp|`` per point
    of the original sketch ``(B, N)``. One forward and one backward pass."""

    name = "psla"
    default_units = "piece"
    needs_sketch_points = True
    interactive = True
    listing = 11

    def scores(self, game: Game, *, seed: int = 0):
        if not game.view.sketch_points:
            raise StrokelensError(
                f"P-SLA needs a view that draws the sketch's own points (a raster sketch view), "
                f"not {type(game.view).__name__}"
            )
        sketch_points, stroke_ids = game.points()
        points = sketch_points.detach().clone().requires_grad_(True)
        z = game.full().requires_grad_(True)
        value = game.value(z, torch.arange(game.batch_size, device=game.device), points=points)
        z_grad, p_grad = torch.autograd.grad(value.sum(), (z, points))
        point_scores = p_grad.norm(dim=-1) * (stroke_ids >= 0)
        return z_grad, {"point_scores": point_scores.detach().cpu()}
