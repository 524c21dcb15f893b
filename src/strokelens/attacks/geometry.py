"""The geometry attack: move a few pieces' points, each within ``eps`` of the sketch's size.

Projected gradient descent on the coordinates of the sketch's own points (the ones a raster view
draws). Only the points of the chosen pieces move: the ``n_pieces`` pieces P-SLA ranks highest for
the predicted class (``psla``), as many random pieces (``random``), or every point (``all``). Each
step moves every free point by ``step`` times ``eps * diagonal`` along its own normalised gradient
and projects its total displacement back into a disc of radius ``eps * diagonal`` (the diagonal of
the sketch's bounding box) and into that bounding box; the points that span the box stay put, so
the drawing keeps its frame when it is read again. Each sketch keeps the displacement with the
lowest margin it reached. A sketch stops moving once the model reads another class (untargeted)
or the goal class (targeted); the loss is the logit margin between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from strokelens.attacks.removal import as_goal
from strokelens.attribution.psla import PSLA
from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.sketch import Sketch
from strokelens.units.strokes import SketchUnits
from strokelens.views.base import View


def _top(ranked: torch.Tensor, game: Game, n_pieces: int) -> torch.Tensor:
    """The ``n_pieces`` highest-ranked pieces of each sketch ``(B, m)``, -1 past a sketch's own."""
    ranked = torch.where(game.unit_mask, ranked.detach(), torch.full_like(ranked, -torch.inf))
    m = min(n_pieces, game.max_units)
    pieces = ranked.topk(m, dim=1).indices
    return torch.where(torch.arange(m, device=game.device)[None] < game.n_units[:, None], pieces, -1)


def _by_psla(view: View, game: Game, n_pieces: int, seed: int) -> torch.Tensor:
    ranked, _ = PSLA(view).scores(game)  # for the class the model reads (the game's "auto" target)
    return _top(ranked, game, n_pieces)


def _at_random(view: View, game: Game, n_pieces: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return _top(torch.rand(game.batch_size, game.max_units, generator=gen).to(game.device), game, n_pieces)


def _every_piece(view: View, game: Game, n_pieces: int, seed: int) -> torch.Tensor:
    every = torch.arange(game.max_units, device=game.device).expand(game.batch_size, -1)
    return torch.where(game.unit_mask, every, torch.full_like(every, -1))


#: How the moving pieces are chosen, by name: ``(view, game, n_pieces, seed) -> pieces (B, m)``, -1
#: for none.
SELECTIONS: dict[str, Callable[[View, Game, int, int], torch.Tensor]] = {
    "psla": _by_psla,
    "random": _at_random,
    "all": _every_piece,
}


@dataclass(eq=False)
class GeometryResult:
    """What the geometry attack did to each of ``B`` sketches.

    ``points`` / ``attacked_points`` ``(B, N, 2)``: the sketches' own points before and after;
    ``free`` ``(B, N)``: the points allowed to move; ``diagonal`` ``(B,)``: each bounding box's
    diagonal; ``success`` ``(B,)``: the model read another (or the goal) class during the attack,
    after ``steps_taken`` ``(B,)`` steps. ``final`` / ``final_prob``: the class read at the end.
    """

    units: SketchUnits
    class_names: list[str]
    selection: str
    eps: float
    pieces: torch.Tensor
    points: torch.Tensor
    attacked_points: torch.Tensor
    free: torch.Tensor
    diagonal: torch.Tensor
    original: torch.Tensor
    goal: torch.Tensor | None
    success: torch.Tensor
    steps_taken: torch.Tensor
    final: torch.Tensor
    final_prob: torch.Tensor
    evaluations: float

    @property
    def displacement(self) -> torch.Tensor:
        """``(B, N)``: each point's displacement as a share of its sketch's diagonal."""
        return (self.attacked_points - self.points).norm(dim=-1) / self.diagonal[:, None].clamp_min(1e-12)

    @property
    def moved(self) -> torch.Tensor:
        """``(B, N)`` bool: points that moved (by more than a millionth of the diagonal)."""
        return self.free & (self.displacement > 1e-6)

    @property
    def points_moved(self) -> torch.Tensor:
        return self.moved.sum(1)

    @property
    def mean_displacement(self) -> torch.Tensor:
        """``(B,)``: mean displacement of the moved points (share of the diagonal), 0 where none."""
        moved = self.moved
        total = torch.where(moved, self.displacement, torch.zeros_like(self.displacement)).sum(1)
        return total / moved.sum(1).clamp(min=1)

    def attacked_sketches(self) -> list[Sketch]:
        """The sketches with their points moved (the same strokes, point counts and labels)."""
        out = []
        pts = self.attacked_points.double().numpy()
        for i, sketch in enumerate(self.units.sketches):
            counts = [len(s) for s in sketch.strokes]
            flat = pts[i, : sum(counts)]
            strokes = np.split(flat, np.cumsum(counts)[:-1])
            out.append(replace(sketch, strokes=strokes))
        return out

    def record(self, i: int) -> dict[str, Any]:
        """A JSON-ready record of sketch ``i``."""
        sketch = self.units.sketches[i]
        return {
            "id": sketch.key_id or str(i),
            "source": sketch.source,
            "label": sketch.label,
            "attack": "geometry",
            "selection": self.selection,
            "eps": self.eps,
            "original": self.class_names[int(self.original[i])],
            "goal": None if self.goal is None else self.class_names[int(self.goal[i])],
            "success": bool(self.success[i]),
            "steps": int(self.steps_taken[i]),
            "pieces": self.pieces[i][self.pieces[i] >= 0].tolist(),
            "points_free": int(self.free[i].sum()),
            "points_moved": int(self.points_moved[i]),
            "n_points": sketch.n_points,
            "mean_displacement": round(float(self.mean_displacement[i]), 6),
            "final": self.class_names[int(self.final[i])],
            "final_prob": round(float(self.final_prob[i]), 6),
        }


def free_points(units: SketchUnits, selected: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` bool over the original sketch points: the points that shape a selected piece
    (``selected`` ``(B, K)`` bool over piece units)."""
    if units.source_index is None:
        return torch.gather(selected, 1, units.segment_unit.clamp(min=0)) & (units.segment_unit >= 0)
    seg = units.segment_unit
    on = torch.gather(selected, 1, seg.clamp(min=0)) & (seg >= 0)  # segment j -> j + 1 is selected
    # A selected segment's two end points, each an interpolation of one or two original points.
    ends = on | torch.cat([torch.zeros_like(on[:, :1]), on[:, :-1]], dim=1)
    b, n = units.original.points.shape[:2]
    src = torch.zeros(b, n, dtype=torch.long, device=seg.device)
    src.scatter_add_(1, units.source_index, ends.long())
    inside = ends & (units.source_t > 0)
    src.scatter_add_(1, units.source_next, inside.long())
    return (src > 0) & units.original.point_mask


def _bounding_box(points: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi)``, each ``(B, 1, 2)``: the corners of every sketch's bounding box."""
    big = torch.finfo(points.dtype).max
    lo = torch.where(mask[..., None], points, big).amin(1, keepdim=True)
    hi = torch.where(mask[..., None], points, -big).amax(1, keepdim=True)
    return lo, hi


def geometry_attack(
    view: View,
    units: SketchUnits,
    eps: float = 0.02,
    selection: str = "psla",
    n_pieces: int = 3,
    steps: int = 30,
    step: float = 0.25,
    confidence: float = 1.0,
    goal: torch.Tensor | None = None,
    seed: int = 0,
) -> GeometryResult:
    """Attack the sketches of piece ``units`` by moving only the points of the chosen pieces.

    ``eps``: the largest displacement of a point, as a share of the sketch's bounding-box diagonal.
    ``selection``: ``psla`` (the ``n_pieces`` pieces P-SLA ranks highest), ``random`` (as many
    pieces, seeded) or ``all`` (every point free). ``steps`` gradient steps of ``step * eps *
    diagonal`` each; a sketch stops once the other class leads by ``confidence`` logits.
    ``goal`` ``(B,)``: classes to reach (targeted), or None."""
    if not view.sketch_points:
        raise StrokelensError(
            f"the geometry attack moves the sketch's own points, which {type(view).__name__} does not "
            "draw; use a raster sketch model (DoodleNet)"
        )
    if selection not in SELECTIONS:
        raise StrokelensError(f"unknown selection {selection!r}; expected one of {', '.join(SELECTIONS)}")
    if not eps > 0:
        raise StrokelensError(f"eps must be positive, got {eps}")
    if n_pieces < 1 or steps < 1 or not step > 0:
        raise StrokelensError(
            f"n_pieces and steps must be at least 1 and step positive; got {n_pieces}, {steps}, {step}"
        )
    game = view.game(units)
    device, b, k = game.device, game.batch_size, game.max_units
    original = game.full_outputs.argmax(1)
    goal = as_goal(goal, b, device)
    pieces = SELECTIONS[selection](view, game, n_pieces, seed)
    chosen = torch.zeros(b, k, dtype=torch.bool, device=device)
    picked = pieces >= 0  # a -1 must not land on piece 0: only the real picks are marked
    chosen[torch.arange(b, device=device)[:, None].expand_as(pieces)[picked], pieces[picked]] = True
    base = units.original.points.detach()
    lo, hi = _bounding_box(base, units.original.point_mask)
    # The points that span the bounding box stay put, so the box cannot shrink either.
    free = free_points(units, chosen) & ~((base == lo) | (base == hi)).any(-1)
    diagonal = (hi - lo)[:, 0].norm(dim=-1)
    radius = (eps * diagonal)[:, None, None]
    delta = torch.zeros_like(base)
    rows = torch.arange(b, device=device)
    # The drawing is moved and read as whole strokes, as it will be read when saved: piece cuts add
    # points whose joints the rasteriser inks a little, so pieces serve only to choose the points.
    strokes = view.game(view.units_for(units.original, "stroke"))
    z = strokes.full()
    done = torch.zeros(b, dtype=torch.bool, device=device)
    taken = torch.full((b,), steps, dtype=torch.long, device=device)
    free3 = free[..., None].to(base.dtype)
    best_margin = torch.full((b,), torch.inf, device=device)
    best_delta = delta.clone()
    for t in range(steps + 1):
        delta.requires_grad_(True)
        logits = strokes.outputs(z, rows, points=base + delta * free3)
        goal_or_orig = goal if goal is not None else original
        own = logits.gather(1, goal_or_orig[:, None])[:, 0]
        others = logits.scatter(1, goal_or_orig[:, None], -torch.inf).amax(1)
        margin = (others - own) if goal is not None else (own - others)
        with torch.no_grad():
            better = margin < best_margin
            best_margin = torch.where(better, margin, best_margin)
            best_delta = torch.where(better[:, None, None], delta, best_delta)
            hit = margin < -confidence
            taken = torch.where(hit & ~done, torch.full_like(taken, t), taken)
            done |= hit
        if bool(done.all()) or t == steps:
            break
        (grad,) = torch.autograd.grad(margin.sum(), delta)
        with torch.no_grad():
            direction = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            moving = (~done)[:, None, None].to(base.dtype) * free3
            delta = delta.detach() - step * radius * direction * moving
            norm = delta.norm(dim=-1, keepdim=True)
            delta = delta * torch.clamp(radius / norm.clamp_min(1e-12), max=1.0)
            # Points stay inside the bounding box (whose extreme points never move), so the drawing's
            # frame, and so the model's view of it, is the same when it is read afresh.
            delta = torch.minimum(torch.maximum(base + delta, lo), hi) - base
    with torch.no_grad():
        attacked = base + best_delta * free3
        final_logits = strokes.outputs(z, rows, points=attacked)
    best = final_logits.softmax(-1).max(-1)
    success = (best.indices == goal) if goal is not None else (best.indices != original)
    return GeometryResult(
        units=units,
        class_names=list(view.class_names),
        selection=selection,
        eps=float(eps),
        pieces=pieces.cpu(),
        points=base.cpu(),
        attacked_points=attacked.cpu(),
        free=free.cpu(),
        diagonal=diagonal.cpu(),
        original=original.cpu(),
        goal=None if goal is None else goal.cpu(),
        success=success.cpu(),
        steps_taken=taken.cpu(),
        final=best.indices.cpu(),
        final_prob=best.values.cpu(),
        evaluations=(game.evaluations + strokes.evaluations) / b - 1,  # one prediction, made twice
    )
