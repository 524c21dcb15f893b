"""Exact Shapley values by enumerating every coalition: the ground truth fast methods are scored on."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from strokelens.attribution.base import register
from strokelens.attribution.cost import EVERY_COALITION
from strokelens.attribution.families import PerturbationAttribution
from strokelens.errors import StrokelensError
from strokelens.games import Game

#: Beyond this many units 2^K evaluations are refused.
MAX_EXACT_UNITS = 16


def coalitions(k: int, device: torch.device) -> torch.Tensor:
    """All ``2^k`` coalitions as a ``(2^k, k)`` 0/1 float matrix; row ``m`` has bit ``j`` of ``m``."""
    masks = torch.arange(2**k, device=device)
    return ((masks[:, None] >> torch.arange(k, device=device)) & 1).float()


def shapley_from_values(values: torch.Tensor, k: int) -> torch.Tensor:
    """Shapley values ``(B, k)`` from coalition values ``(B, 2^k)`` indexed as in `coalitions`."""
    device = values.device
    masks = torch.arange(2**k, device=device)
    size = coalitions(k, device).sum(1).long()
    fact = torch.tensor([math.factorial(i) for i in range(k + 1)], dtype=torch.float64, device=device)
    out = torch.zeros(values.shape[0], k, dtype=torch.float64, device=device)
    vals = values.double()
    for j in range(k):  # k <= 16 passes, each vectorised over all coalitions and inputs
        without = masks[(masks >> j) & 1 == 0]
        s = size[without]
        weight = fact[s] * fact[k - s - 1] / fact[k]
        out[:, j] = ((vals[:, without | (1 << j)] - vals[:, without]) * weight).sum(1)
    return out


def check_exact(game: Game) -> None:
    """Refuse a game whose largest input has more units than exact enumeration allows."""
    if game.max_units > MAX_EXACT_UNITS:
        raise StrokelensError(
            f"exact Shapley values need 2^K evaluations; K = {game.max_units} units exceeds the limit of "
            f"{MAX_EXACT_UNITS} (use kernelshap, or fewer/larger units)"
        )


def all_coalition_values(
    game: Game, evaluate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> Iterator[tuple[torch.Tensor, int, torch.Tensor]]:
    """For each unit count ``k`` in the batch: the inputs with ``k`` units, ``k``, and ``evaluate(z,
    rows)`` at all ``2^k`` of their coalitions (``(inputs, 2^k, ...)``, indexed as in `coalitions`),
    in chunks of the game's ``max_rows``; so a 4-stroke sketch costs 16 evaluations, not ``2^K_max``."""
    k_max = game.max_units
    for k in sorted(set(game.n_units.tolist())):
        items = (game.n_units == k).nonzero()[:, 0]
        sub = coalitions(k, game.device)
        z = torch.ones(len(items), len(sub), k_max, device=game.device, dtype=game.dtype)
        z[:, :, :k] = sub.to(game.dtype)
        rows = items.repeat_interleave(len(sub))
        flat = z.reshape(-1, k_max)
        with torch.no_grad():
            vals = torch.cat(
                [
                    evaluate(flat[i : i + game.max_rows], rows[i : i + game.max_rows])
                    for i in range(0, len(rows), game.max_rows)
                ]
            )
        yield items, k, vals.view(len(items), len(sub), *vals.shape[1:])


@register
class ExactShapley(PerturbationAttribution):
    """Shapley values of the game, exactly: ``2^K`` evaluations per input (``K <= 16``), batched.

    Inputs are grouped by unit count, so a 4-stroke sketch costs 16 evaluations, not ``2^K_max``.
    """

    name = "shapley"
    max_units = MAX_EXACT_UNITS
    reference = True
    cost = EVERY_COALITION
    interactive = True
    evaluated_on = ("stroke",)
    listing = 60

    def scores(self, game: Game, *, seed: int = 0):
        check_exact(game)
        out = torch.zeros(game.batch_size, game.max_units, dtype=torch.float64, device=game.device)
        for items, k, vals in all_coalition_values(game, game.value):
            out[items, :k] = shapley_from_values(vals, k)
        return out.float(), {}
