"""A batch of sketches as a function of its stroke locations, through any sketch view.

Locations live in the *normalised frame*: the sketch's top-left corner at 0 and its longer side
spanning 0..1. A stroke's location is its first point. The view decides what the model sees: a raster
view renders the translated strokes (its frame fixed by the original sketch), a vector view passes the
translated points to the model. Both go through the view's public ``outputs(..., points=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch
from strokelens.views.base import View


def stroke_starts(points: torch.Tensor, stroke_ids: torch.Tensor, n_slots: int) -> torch.Tensor:
    """``(B, S, 2)``: the first point of every stroke (strokes are contiguous runs; zero on padding)."""
    prev = torch.cat([torch.full_like(stroke_ids[:, :1], -2), stroke_ids[:, :-1]], dim=1)
    first = (stroke_ids >= 0) & (stroke_ids != prev)
    b_idx = torch.arange(points.shape[0], device=points.device)[:, None].expand_as(stroke_ids)
    out = points.new_zeros(points.shape[0], n_slots, 2)
    return out.index_put((b_idx[first], stroke_ids[first]), points[first])


def place(relative: torch.Tensor, stroke_ids: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """Points from their offsets to their stroke's start plus that stroke's location (padding stays 0)."""
    idx = stroke_ids.clamp_min(0)[..., None].expand(-1, -1, 2)
    loc = torch.gather(locations, 1, idx)
    return torch.where((stroke_ids >= 0)[..., None], relative + loc, torch.zeros_like(relative))


@dataclass(eq=False)
class LocationProblem:
    """``logits(locations (B, S, 2)) -> (B, C)`` for a batch, and what the optimiser needs of it."""

    sketches: list[Sketch]
    relative: torch.Tensor
    stroke_ids: torch.Tensor
    true_locations: torch.Tensor
    centre: torch.Tensor
    n_strokes: torch.Tensor
    logits: Callable[[torch.Tensor], torch.Tensor]

    @classmethod
    def on_view(cls, view: View, sketches: Sequence[Sketch]) -> LocationProblem:
        """The problem of ``sketches`` (prepared by the view, then put in the normalised frame) as
        ``view`` shows them to its model, every stroke fully present."""
        if not view.takes_points:
            raise StrokelensError(
                f"stroke location inversion needs a sketch model (a view that takes points), "
                f"not {type(view).__name__}"
            )
        base = [s.normalized(1.0) for s in view.prepare(list(sketches))]
        game = view.game(view.units_for(base, "stroke"), target=0)
        points, sid = game.points()
        points = points.detach()
        true = stroke_starts(points, sid, int(game.n_units.max()))
        relative = torch.where(
            (sid >= 0)[..., None], points - place(torch.zeros_like(points), sid, true), 0.0
        )
        rows = torch.arange(game.batch_size, device=game.device)
        full = game.full()
        game.evaluations = 0

        def logits(loc: torch.Tensor) -> torch.Tensor:
            return game.outputs(full, rows, points=place(relative, sid, loc))

        n_strokes = torch.as_tensor([s.n_strokes for s in base], device=game.device)
        return cls(base, relative, sid, true, _bbox_centre(points, sid >= 0), n_strokes, logits)

    def location_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lo, hi)`` ``(B, S, 2)``: the locations that keep each stroke inside the sketch's original
        bounding box (every stroke fits there, so ``lo <= hi``)."""
        b, s = self.true_locations.shape[:2]
        valid = self.stroke_ids >= 0
        idx = self.stroke_ids.clamp_min(0)[..., None].expand(-1, -1, 2)
        big = torch.finfo(self.relative.dtype).max
        rel_lo = self.relative.new_full((b, s, 2), big).scatter_reduce(
            1, idx, torch.where(valid[..., None], self.relative, big), "amin"
        )
        rel_hi = self.relative.new_full((b, s, 2), -big).scatter_reduce(
            1, idx, torch.where(valid[..., None], self.relative, -big), "amax"
        )
        points = place(self.relative, self.stroke_ids, self.true_locations)
        box_lo = torch.where(valid[..., None], points, big).amin(1)[:, None]
        box_hi = torch.where(valid[..., None], points, -big).amax(1)[:, None]
        real = (torch.arange(s, device=valid.device)[None] < self.n_strokes[:, None])[..., None]
        lo = torch.where(real, box_lo - rel_lo, 0.0)
        hi = torch.where(real, box_hi - rel_hi, 0.0)
        return lo, torch.maximum(lo, hi)


def _bbox_centre(points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    big = torch.finfo(points.dtype).max
    m = mask[..., None]
    lo = torch.where(m, points, big).amin(1)
    hi = torch.where(m, points, -big).amax(1)
    return (lo + hi) / 2
