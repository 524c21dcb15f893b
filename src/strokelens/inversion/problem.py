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


def stroke_offsets(
    points: torch.Tensor, stroke_ids: torch.Tensor, n_slots: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(relative (B, N, 2), locations (B, S, 2))``: every point as an offset from its stroke's first
    point, and those first points; ``place(relative, stroke_ids, locations)`` gives ``points`` back."""
    true = stroke_starts(points, stroke_ids, n_slots)
    relative = torch.where(
        (stroke_ids >= 0)[..., None], points - place(torch.zeros_like(points), stroke_ids, true), 0.0
    )
    return relative, true


def bbox_centre(points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, 2)``: the centre of each sketch's bounding box (points where ``mask``)."""
    big = torch.finfo(points.dtype).max
    m = mask[..., None]
    lo = torch.where(m, points, big).amin(1)
    hi = torch.where(m, points, -big).amax(1)
    return (lo + hi) / 2


def location_bounds(
    relative: torch.Tensor, stroke_ids: torch.Tensor, true_locations: torch.Tensor, n_strokes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi)`` ``(B, S, 2)``: the locations that keep each stroke inside the sketch's bounding
    box (every stroke fits there, so ``lo <= hi``); zero on stroke slots a sketch does not have."""
    b, s = true_locations.shape[:2]
    valid = stroke_ids >= 0
    idx = stroke_ids.clamp_min(0)[..., None].expand(-1, -1, 2)
    big = torch.finfo(relative.dtype).max
    rel_lo = relative.new_full((b, s, 2), big).scatter_reduce(
        1, idx, torch.where(valid[..., None], relative, big), "amin"
    )
    rel_hi = relative.new_full((b, s, 2), -big).scatter_reduce(
        1, idx, torch.where(valid[..., None], relative, -big), "amax"
    )
    points = place(relative, stroke_ids, true_locations)
    box_lo = torch.where(valid[..., None], points, big).amin(1)[:, None]
    box_hi = torch.where(valid[..., None], points, -big).amax(1)[:, None]
    real = (torch.arange(s, device=valid.device)[None] < n_strokes[:, None])[..., None]
    lo = torch.where(real, box_lo - rel_lo, 0.0)
    hi = torch.where(real, box_hi - rel_hi, 0.0)
    return lo, torch.maximum(lo, hi)


def _bbox_centre_origin(true_locations: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    return centre[:, None, :]  # broadcast over the strokes


def _true_origin(true_locations: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    return true_locations


#: Where the noisy start is centred, by noise kind: the bounding-box centre (``replace``, SketchXAI's
#: recovery start) or the true locations (``add``).
NOISE_ORIGINS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "replace": _bbox_centre_origin,
    "add": _true_origin,
}
#: Their names.
NOISE_KINDS: tuple[str, ...] = tuple(NOISE_ORIGINS)


def noisy_locations(
    true_locations: torch.Tensor,
    centre: torch.Tensor,
    n_strokes: torch.Tensor,
    eps: torch.Tensor,
    sigma: float,
    noise: str = "replace",
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The inversion's random starting locations ``(B, S, 2)``: ``noise="replace"``: the bounding-box
    centre plus ``sigma * eps`` (SketchXAI's recovery start); ``"add"``: the true locations plus it.
    ``eps`` ``(B, S, 2)`` is standard normal noise; ``bounds`` (`location_bounds`) clip the result so
    every stroke stays inside the sketch's bounding box. Zero on stroke slots a sketch does not have."""
    origin_of = NOISE_ORIGINS.get(noise)
    if origin_of is None:
        raise StrokelensError(f"unknown noise kind {noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    slots = torch.arange(true_locations.shape[1], device=true_locations.device)
    mask = (slots[None] < n_strokes[:, None])[..., None]
    origin = origin_of(true_locations, centre)
    start = torch.where(mask, origin + sigma * eps.to(true_locations), 0.0)
    if bounds is not None:
        start = torch.minimum(torch.maximum(start, bounds[0]), bounds[1])
    return start


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
        relative, true = stroke_offsets(points, sid, int(game.n_units.max()))
        rows = torch.arange(game.batch_size, device=game.device)
        full = game.full()
        game.evaluations = 0

        def logits(loc: torch.Tensor) -> torch.Tensor:
            return game.outputs(full, rows, points=place(relative, sid, loc))

        n_strokes = torch.as_tensor([s.n_strokes for s in base], device=game.device)
        return cls(base, relative, sid, true, bbox_centre(points, sid >= 0), n_strokes, logits)

    def location_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lo, hi)`` ``(B, S, 2)``: the locations that keep each stroke inside the sketch's original
        bounding box (see `location_bounds`)."""
        return location_bounds(self.relative, self.stroke_ids, self.true_locations, self.n_strokes)

    def noisy_start(
        self, eps: torch.Tensor, sigma: float, noise: str = "replace", bound: bool = True
    ) -> torch.Tensor:
        """Random starting locations for noise ``eps`` ``(B, S, 2)`` (see `noisy_locations`), inside
        the bounding box when ``bound``."""
        bounds = self.location_bounds() if bound else None
        return noisy_locations(self.true_locations, self.centre, self.n_strokes, eps, sigma, noise, bounds)
