"""Training objectives of the learned explainers, on any `Game`.

- `fastshap_loss` (Jethani et al., ICLR 2022): coalitions ``S`` drawn from the Shapley kernel, each
  paired with its complement; the explainer's values, made efficient by the additive normalisation
  (they sum to ``v(N) - v(empty)`` for every class), must predict ``v(S) - v(empty)`` summed over ``S``.
- `label_loss`: regression on exact Shapley values (training labels where units are few, see
  `strokelens.explainers.labels`), with the same normalisation.
- `wys_loss` (Stalder et al., NeurIPS 2022, "What You See is What You Classify"): the target mask
  must keep the explanandum's class (cross entropy on the masked input), what it leaves out must
  leave the explanandum unsure (negative entropy on the inverse-masked input), its area must stay in
  bounds, and the target and non-target masks are kept small. Beyond the paper, a ``deletion``
  weight adds `soft_deletion`, points of the deletion curve that the mask's ranking gives, and a
  ``ranking`` weight adds `label_ranking`, the order of the explained class's Shapley labels taught
  to its mask.

Masks and coalitions reach the explanandum through the game, as every other method's ``z`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.metrics import ranking


def shapley_kernel_coalitions(
    n_units: torch.Tensor, max_units: int, pairs: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``(B, 2 * pairs, K)`` float coalitions: ``pairs`` drawn from the Shapley kernel per input
    (size ``s`` with probability proportional to ``(n - 1) / (s (n - s))``, then a uniform subset of
    that size), each followed by its complement. Inputs with one unit get the full coalition."""
    device = n_units.device
    b, k = len(n_units), max_units
    s = torch.arange(1, k + 1, device=device, dtype=torch.float64)[None]  # sizes 1..K
    n = n_units.to(torch.float64)[:, None]
    weights = torch.where(s < n, (n - 1) / (s * (n - s)).clamp_min(1e-12), torch.zeros_like(s))
    weights = torch.where((n < 2) & (s == n.clamp_min(1)), torch.ones_like(s), weights)
    sizes = torch.multinomial(weights.float().cpu(), pairs, replacement=True, generator=generator) + 1
    sizes = sizes.to(device)  # (B, pairs)
    keys = torch.rand(b, pairs, k, generator=generator).to(device)
    exists = torch.arange(k, device=device)[None] < n_units[:, None]  # (B, K)
    keys = torch.where(exists[:, None], keys, torch.full_like(keys, 2.0))
    rank = keys.argsort(dim=-1).argsort(dim=-1)
    chosen = rank < sizes[..., None]
    complement = exists[:, None] & ~chosen
    pairs_z = torch.stack([chosen, complement], dim=2).reshape(b, 2 * pairs, k)
    return pairs_z.float()


def efficient(values: torch.Tensor, unit_mask: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """FastSHAP's additive normalisation: ``values`` ``(..., B, K, C)`` (any leading ensemble
    dimensions) shifted per class so that each input's units sum to ``total`` ``(B, C)`` (padding
    stays 0)."""
    mask = unit_mask[..., None].to(values.dtype)
    values = values * mask
    n = unit_mask.sum(1).clamp_min(1).to(values.dtype)[:, None]
    return values + mask * ((total - values.sum(-2)) / n)[..., None, :]


def _members(raw_values: torch.Tensor) -> torch.Tensor:
    """``(E, B, K, C)``: raw values with the ensemble dimension (one member when it has none)."""
    return raw_values if raw_values.dim() == 4 else raw_values[None]


def _class_error(err: torch.Tensor, target: torch.Tensor | None, target_weight: float) -> torch.Tensor:
    """Mean squared ``err`` ``(E, B, P, C)`` over classes, plus ``target_weight`` x the target's own,
    ``(E, B, P)``."""
    loss = err.pow(2).mean(-1)
    if target_weight and target is not None:
        t = target[None, :, None, None].expand(*err.shape[:3], 1)
        loss = loss + target_weight * err.gather(3, t)[..., 0].pow(2)
    return loss


def fastshap_loss(
    game: Game,
    raw_values: torch.Tensor,
    null: torch.Tensor,
    pairs: int,
    target_weight: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean squared error of ``sum_{i in S} phi_i`` against ``v(S) - v(empty)`` over every class (plus
    ``target_weight`` x the target class's own error), for ``2 * pairs`` kernel coalitions per input.
    ``raw_values`` ``(B, K, C)`` from the explainer, or ``(E, B, K, C)`` for an ensemble (each member
    scored on the same coalitions, the losses summed); ``null`` ``(B, C)``: ``v(empty)`` in score space."""
    b, k = game.batch_size, game.max_units
    full = game.transform(game.full_outputs)
    phi = efficient(_members(raw_values), game.unit_mask, full - null)
    z = shapley_kernel_coalitions(game.n_units, k, pairs, generator).to(phi.dtype)
    p = z.shape[1]
    rows = torch.arange(b, device=game.device).repeat_interleave(p)
    with torch.no_grad():
        flat = z.reshape(b * p, k)
        outs = [
            game.transform(game.outputs(flat[i : i + game.max_rows], rows[i : i + game.max_rows]))
            for i in range(0, len(rows), game.max_rows)
        ]
        values = torch.cat(outs).view(b, p, -1) - null[:, None, :]
    pred = torch.einsum("bpk,ebkc->ebpc", z, phi)
    return _class_error(pred - values[None], game.target, target_weight).mean((1, 2)).sum()


def label_loss(
    game: Game,
    raw_values: torch.Tensor,
    null: torch.Tensor,
    labels: torch.Tensor,
    target_weight: float = 1.0,
) -> torch.Tensor:
    """Regression on exact Shapley values: mean squared error of the efficient values against
    ``labels`` ``(B, K, C)`` over every class and unit (plus ``target_weight`` x the target class's
    own), summed over an ensemble's members. Both sides sum to ``v(N) - v(empty)`` per class."""
    full = game.transform(game.full_outputs)
    phi = efficient(_members(raw_values), game.unit_mask, full - null)
    err = (phi - labels[None].to(phi.dtype)) * game.unit_mask[None, ..., None]
    per_unit = _class_error(err, game.target, target_weight)  # (E, B, K)
    count = game.unit_mask.sum(1).clamp_min(1).to(phi.dtype)
    return (per_unit.sum(-1) / count).mean(-1).sum()


@dataclass
class WysWeights:
    """The weights and area bounds of `wys_loss`; the paper's defaults."""

    entropy: float = 1.0
    area: float = 1.0
    target_mask: float = 0.1
    other_mask: float = 0.3
    min_area: float = 0.05
    max_area: float = 0.3
    deletion: float = 0.0
    ranking: float = 0.0


def area_loss(mask: torch.Tensor, unit_mask: torch.Tensor, min_area: float, max_area: float) -> torch.Tensor:
    """The sorted-mask area bound per input: the largest ``ceil(min_area * n)`` values should be 1 and
    every value past the first ``floor(max_area * n)`` (at least the ``min_area`` ones) should be 0;
    mean absolute deviation over the input's ``n`` units."""
    n = unit_mask.sum(1)
    keyed = torch.where(unit_mask, mask, torch.full_like(mask, -1.0))
    ordered = keyed.sort(dim=1, descending=True).values
    pos = torch.arange(mask.shape[1], device=mask.device)[None]
    ones = torch.ceil(min_area * n.to(mask.dtype))[:, None]
    zeros_from = torch.maximum(torch.floor(max_area * n.to(mask.dtype))[:, None], ones)
    inside = pos < n[:, None]
    dev = torch.where(pos < ones, 1 - ordered, torch.zeros_like(ordered))
    dev = dev + torch.where((pos >= zeros_from) & inside, ordered, torch.zeros_like(ordered))
    return (dev.sum(1) / n.clamp_min(1).to(mask.dtype)).mean()


def of_class(values: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Each input's values ``(B, K, C)`` for its class in ``classes`` ``(B,)``: ``(B, K)``."""
    return values.gather(2, classes[:, None, None].expand(-1, values.shape[1], 1))[..., 0]


def masks_of(
    logits: torch.Tensor, target: torch.Tensor, unit_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target mask ``m = sigmoid(logit of the target class)`` and non-target mask ``n = sigmoid(max
    over the other classes)``, both ``(B, K)`` and 0 on padding."""
    c = logits.shape[-1]
    m = torch.sigmoid(of_class(logits, target))
    others = logits.masked_fill(F.one_hot(target, c).bool()[:, None, :], float("-inf"))
    n = torch.sigmoid(others.amax(-1))
    zero = torch.zeros_like(m)
    return torch.where(unit_mask, m, zero), torch.where(unit_mask, n, zero)


def soft_deletion(
    game: Game, target_logits: torch.Tensor, generator: torch.Generator | None = None, draws: int = 4
) -> torch.Tensor:
    """Points of a differentiable deletion curve: for each input with ``n >= 2`` units, ``draws``
    budgets ``j`` drawn uniformly from ``1..n-1``; the units whose logit is above the midpoint between
    the ``j``-th and ``j+1``-th largest are removed softly (``1 - sigmoid(logit - midpoint)``), and the
    mean target probability of what is left is returned. Its expectation is the deletion curve's area
    (`strokelens.metrics.deletion_insertion`) with the mask's ranking made soft (hard where the
    logits are far apart); 0 if no input has two units."""
    mask, n = game.unit_mask, game.n_units
    rows = torch.nonzero(n >= 2)[:, 0].repeat_interleave(draws)
    if len(rows) == 0:
        return target_logits.sum() * 0.0
    logits = target_logits[rows]
    fixed = logits.detach()
    ordered = fixed.gather(1, ranking(fixed, mask[rows]))  # sorted as the metric ranks them
    draw = torch.rand(len(rows), generator=generator).to(game.device)
    j = (draw * (n[rows] - 1).to(draw.dtype)).long().clamp_max(n[rows] - 2) + 1  # 1..n-1
    midpoint = (ordered.gather(1, (j - 1)[:, None]) + ordered.gather(1, j[:, None])) / 2
    kept = torch.where(mask[rows], 1 - torch.sigmoid(logits - midpoint), torch.zeros_like(logits))
    probs = game.outputs(kept, rows).float().softmax(-1)
    return probs.gather(1, game.target[rows][:, None])[:, 0].mean()


def label_ranking(logits: torch.Tensor, labels: torch.Tensor, unit_mask: torch.Tensor) -> torch.Tensor:
    """A pairwise ranking loss of ``logits`` ``(B, K)`` against Shapley ``labels`` ``(B, K)``: for every
    pair of units whose labels differ, ``softplus`` of how far the logits invert their order, weighted
    by the labels' gap (the weights of an input sum to 1, so near-ties matter little); the mean over
    inputs with such a pair (0 if none). Padding (``unit_mask`` False) takes part in no pair."""
    gap = labels[:, :, None] - labels[:, None, :]
    pairs = unit_mask[:, :, None] & unit_mask[:, None, :] & (gap > 0)
    weight = torch.where(pairs, gap, torch.zeros_like(gap))
    weight = weight / weight.sum((1, 2), keepdim=True).clamp_min(1e-12)
    inverted = F.softplus(logits[:, None, :] - logits[:, :, None])  # large where l_j > l_i, phi_i > phi_j
    per_input = (weight * inverted).sum((1, 2))
    ranked = pairs.flatten(1).any(1)
    if not ranked.any():
        return logits.sum() * 0.0
    return per_input[ranked].mean()


def wys_loss(
    game: Game,
    logits: torch.Tensor,
    weights: WysWeights,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The terms of the mask explainer's loss and their weighted ``total``, for mask logits
    ``(B, K, C)`` and the game's targets (the explanandum's own predictions when trained); with a
    ``deletion`` weight, `soft_deletion` of the target's logits (budgets drawn from ``generator``);
    with a ``ranking`` weight, `label_ranking` of the target's logits against Shapley ``labels``
    ``(B, K, C)`` (an input without labels: all 0, which ranks no pair)."""
    mask = game.unit_mask
    m, n = masks_of(logits, game.target, mask)
    rows = torch.arange(game.batch_size, device=game.device)
    kept = game.outputs(m, rows)
    left = game.outputs(torch.where(mask, 1 - m, torch.zeros_like(m)), rows)
    classification = F.cross_entropy(kept, game.target)
    log_p = left.log_softmax(-1)
    negative_entropy = (log_p.exp() * log_p).sum(-1).mean()
    area = area_loss(m, mask, weights.min_area, weights.max_area)
    count = mask.sum(1).clamp_min(1)
    mean_m = (m.sum(1) / count).mean()
    mean_n = (n.sum(1) / count).mean()
    total = (
        classification
        + weights.entropy * negative_entropy
        + weights.area * area
        + weights.target_mask * mean_m
        + weights.other_mask * mean_n
    )
    terms = {}
    if weights.deletion > 0:
        terms["soft_deletion"] = soft_deletion(game, of_class(logits, game.target), generator)
        total = total + weights.deletion * terms["soft_deletion"]
    if weights.ranking > 0:
        if labels is None:
            raise StrokelensError("the wys ranking term needs Shapley labels of the training inputs")
        target = of_class(logits, game.target)
        terms["label_ranking"] = label_ranking(target, of_class(labels, game.target), mask)
        total = total + weights.ranking * terms["label_ranking"]
    return {
        **terms,
        "total": total,
        "classification": classification,
        "negative_entropy": negative_entropy,
        "area": area,
        "mean_target_mask": mean_m,
        "mean_other_mask": mean_n,
    }
