"""The removal attack: take strokes away, best-ranked first, until the model reads another class.

For every sketch, the ``k`` top-ranked strokes are removed for ``k = 1 .. max_removed`` (at least one
stroke always stays), all candidates of all sketches scored in batched model passes. The attack
succeeds at the smallest ``k`` whose prediction differs from the original one (untargeted) or equals
the goal class (targeted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.metrics import ranking
from strokelens.sketch import Sketch
from strokelens.units.strokes import SketchUnits
from strokelens.views.base import View


@dataclass(eq=False)
class RemovalResult:
    """What the removal attack did to each of ``B`` sketches.

    ``order`` ``(B, S)``: strokes from first to last removed. ``removed`` ``(B,)``: strokes removed
    when the attack succeeded, 0 where it failed within ``tried`` ``(B,)`` strokes. ``ink_removed``:
    the removed strokes' share of the sketch's arc length (0 where it failed). ``original`` /
    ``final``: classes before and after (after the last tried removal where it failed), with the
    final class's probability ``final_prob``. ``goal``: the targeted class, or None (untargeted).
    """

    units: SketchUnits
    class_names: list[str]
    order: torch.Tensor
    original: torch.Tensor
    goal: torch.Tensor | None
    removed: torch.Tensor
    tried: torch.Tensor
    ink_removed: torch.Tensor
    final: torch.Tensor
    final_prob: torch.Tensor
    evaluations: float

    @property
    def success(self) -> torch.Tensor:
        return self.removed > 0

    def success_within(self, k: int) -> torch.Tensor:
        """``(B,)`` bool: the attack succeeded with at most ``k`` strokes removed."""
        return self.success & (self.removed <= k)

    def kept_strokes(self, i: int) -> list[int]:
        """The strokes of sketch ``i`` left after the attack (all of them where it failed)."""
        n = int(self.units.n_units[i])
        gone = set(self.order[i, : int(self.removed[i])].tolist())
        return [s for s in range(n) if s not in gone]

    def attacked_sketches(self) -> list[Sketch]:
        """Every sketch with the attack's strokes removed (unchanged where it failed)."""
        return [s.subset(self.kept_strokes(i)) for i, s in enumerate(self.units.sketches)]

    def record(self, i: int) -> dict[str, Any]:
        """A JSON-ready record of sketch ``i``."""
        sketch = self.units.sketches[i]
        k = int(self.removed[i])
        return {
            "id": sketch.key_id or str(i),
            "source": sketch.source,
            "label": sketch.label,
            "attack": "removal",
            "original": self.class_names[int(self.original[i])],
            "goal": None if self.goal is None else self.class_names[int(self.goal[i])],
            "success": bool(k > 0),
            "strokes_removed": k,
            "removed_strokes": self.order[i, :k].tolist(),
            "strokes_tried": int(self.tried[i]),
            "n_strokes": int(self.units.n_units[i]),
            "ink_removed": round(float(self.ink_removed[i]), 6),
            "final": self.class_names[int(self.final[i])],
            "final_prob": round(float(self.final_prob[i]), 6),
        }


def as_goal(goal: torch.Tensor | None, batch_size: int, device: torch.device) -> torch.Tensor | None:
    """``goal`` as one long class index per sketch on ``device`` (None stays None: untargeted)."""
    if goal is None:
        return None
    goal = torch.as_tensor(goal, device=device).long()
    if goal.shape != (batch_size,):
        raise StrokelensError(
            f"goal must name one class per sketch ({batch_size}), got shape {tuple(goal.shape)}"
        )
    return goal


def outputs_of(game: Game, z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Model outputs ``(R, C)`` for presence rows ``z`` of items ``rows``, in chunks, no gradient."""
    with torch.no_grad():
        chunks = [
            game.outputs(z[i : i + game.max_rows], rows[i : i + game.max_rows])
            for i in range(0, len(rows), game.max_rows)
        ]
    return torch.cat(chunks) if chunks else z.new_zeros(0, len(game.view.class_names))


def removal_attack(
    view: View,
    units: SketchUnits,
    scores: torch.Tensor,
    goal: torch.Tensor | None = None,
    max_removed: int | None = 3,
) -> RemovalResult:
    """Remove the strokes of ``units`` from the highest of ``scores`` ``(B, S)`` down.

    ``goal`` ``(B,)``: target classes (targeted attack) or None (any other class). ``max_removed``:
    the most strokes to take from a sketch (None: all but one)."""
    if not units.whole_strokes:
        raise StrokelensError(f"the removal attack removes whole strokes; got {units.kind} units")
    if max_removed is not None and max_removed < 1:
        raise StrokelensError(f"max_removed must be at least 1, got {max_removed}")
    game = view.game(units)
    b, s = game.batch_size, game.max_units
    if tuple(scores.shape) != (b, s):
        raise StrokelensError(
            f"scores must have shape {(b, s)} for these sketches, got {tuple(scores.shape)}"
        )
    device = game.device
    original = game.full_outputs.argmax(1)
    goal = as_goal(goal, b, device)
    mask = game.unit_mask
    order = ranking(scores.to(device), mask)
    tried = (game.n_units - 1).clamp(min=0)
    if max_removed is not None:
        tried = tried.clamp(max=max_removed)
    steps = max(int(tried.max()), 0)
    rank_of = torch.empty_like(order)
    rank_of.scatter_(1, order, torch.arange(s, device=device).expand(b, s))
    k = torch.arange(1, steps + 1, device=device)
    gone = rank_of[:, None, :] < k[None, :, None]  # (B, steps, S): the top-k strokes removed
    valid = k[None] <= tried[:, None]
    rows = torch.arange(b, device=device)[:, None].expand(b, steps)[valid]
    outputs = outputs_of(game, (~gone[valid]).to(units.dtype), rows)
    classes = torch.full((b, steps), -1, dtype=torch.long, device=device)
    probs = torch.zeros(b, steps, device=device)
    if len(rows):
        p = outputs.softmax(-1)
        best = p.max(-1)
        classes[valid], probs[valid] = best.indices, best.values
    hit = (classes == goal[:, None]) if goal is not None else (classes != original[:, None])
    hit &= valid
    first = torch.where(hit.any(1), hit.float().argmax(1) + 1, torch.zeros_like(tried))
    last = torch.where(first > 0, first, tried).clamp(min=1) - 1
    full_prob = game.full_outputs.softmax(-1).max(-1).values
    final, final_prob = original, full_prob
    if steps:
        final = torch.where(tried > 0, classes.gather(1, last[:, None])[:, 0], original)
        final_prob = torch.where(tried > 0, probs.gather(1, last[:, None])[:, 0], full_prob)
    lengths = units.unit_lengths().to(device).float()
    removed_ink = torch.where(rank_of < first[:, None], lengths, torch.zeros_like(lengths)).sum(1)
    ink = removed_ink / lengths.sum(1).clamp_min(1e-12)
    return RemovalResult(
        units=units,
        class_names=list(view.class_names),
        order=order.cpu(),
        original=original.cpu(),
        goal=None if goal is None else goal.cpu(),
        removed=first.cpu(),
        tried=tried.cpu(),
        ink_removed=ink.cpu(),
        final=final.cpu(),
        final_prob=final_prob.cpu(),
        evaluations=game.evaluations / b,
    )
