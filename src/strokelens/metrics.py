"""How good is an explanation? Faithfulness curves, agreement with exact Shapley values, a model
randomisation sanity check and part-level aggregation.

Each metric says whether higher is better (``HIGHER_IS_BETTER``), as Quantus does.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.games import Game
from strokelens.scores import LOGIT, PROB

HIGHER_IS_BETTER = {
    "deletion_auc": False,
    "insertion_auc": True,
    "spearman_vs_shapley": True,
    "kendall_vs_shapley": True,
    "top1_vs_shapley": True,
    "top3_vs_shapley": True,
    "randomisation_spearman": False,
}


@dataclass
class Curves:
    """Deletion and insertion curves ``(B, K + 1)`` (NaN past an input's own unit count) and their
    areas ``(B,)``, normalised so the x axis (fraction of units) spans [0, 1]. ``quantity``: what the
    curves measure: ``prob`` (the target's probability, for models that output logits) or ``raw``
    (the view's own output, e.g. an embedding similarity)."""

    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_auc: torch.Tensor
    insertion_auc: torch.Tensor
    n_units: torch.Tensor
    quantity: str = "prob"


def ranking(scores: torch.Tensor, unit_mask: torch.Tensor) -> torch.Tensor:
    """Unit indices ``(B, K)`` from most to least important; padded units last; ties keep unit order."""
    keyed = torch.where(unit_mask, scores.double(), torch.full_like(scores, -torch.inf, dtype=torch.float64))
    return torch.argsort(-keyed, dim=1, stable=True)


def _area(values: torch.Tensor, n_units: torch.Tensor) -> torch.Tensor:
    """Trapezoid area of each row's first ``K_i + 1`` values over x in [0, 1]."""
    k = values.shape[1] - 1
    steps = torch.arange(k, device=values.device)
    pair = (values[:, :-1] + values[:, 1:]) / 2
    valid = steps[None] < n_units[:, None]
    return torch.where(valid, pair, torch.zeros_like(pair)).sum(1) / n_units.to(values.dtype)


def deletion_insertion(game: Game, scores: torch.Tensor) -> Curves:
    """Remove (deletion) or add (insertion) units from most to least important, re-rendering each
    step, and record the target class probability (or, for views whose outputs are not logits, the
    raw output; a callable target gets probabilities). All steps of all inputs in batched passes."""
    if tuple(scores.shape) != (game.batch_size, game.max_units):
        raise StrokelensError(
            f"scores must have shape {(game.batch_size, game.max_units)} for this game, "
            f"got {tuple(scores.shape)}"
        )
    logits = game.view.outputs_are_logits
    quantity = "prob" if logits else "raw"
    prob_game = game.with_score(PROB if logits else LOGIT)
    mask = game.unit_mask
    order = ranking(scores.to(game.device), mask)
    b, k = mask.shape
    # prefix[j] marks the top-j units: (B, K + 1, K)
    rank_of = torch.empty_like(order)
    rank_of.scatter_(1, order, torch.arange(k, device=game.device).expand(b, k))
    steps = torch.arange(k + 1, device=game.device)
    prefix = (rank_of[:, None, :] < steps[None, :, None]).float()
    valid = steps[None] <= game.n_units[:, None]
    with torch.no_grad():
        deletion = prob_game(1 - prefix, valid)
        insertion = prob_game(prefix, valid)
    game.evaluations += prob_game.evaluations
    return Curves(
        deletion=deletion.cpu(),
        insertion=insertion.cpu(),
        deletion_auc=_area(torch.nan_to_num(deletion), game.n_units).cpu(),
        insertion_auc=_area(torch.nan_to_num(insertion), game.n_units).cpu(),
        n_units=game.n_units.cpu(),
        quantity=quantity,
    )


def agreement(scores: torch.Tensor, reference: torch.Tensor, n_units: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-input agreement with reference scores (exact Shapley values): Spearman and Kendall rank
    correlation, top-1 match and top-3 overlap. Inputs with fewer than 2 units (or constant scores)
    get NaN correlations."""
    from scipy import stats  # on use: it costs about a second at start-up, paid by every job

    out: dict[str, list[float]] = defaultdict(list)
    for s, r, k in zip(scores.numpy(), reference.numpy(), n_units.tolist(), strict=True):
        s, r = s[:k], r[:k]
        degenerate = k < 2 or np.ptp(s) == 0 or np.ptp(r) == 0
        out["spearman"].append(np.nan if degenerate else stats.spearmanr(s, r).statistic)
        out["kendall"].append(np.nan if degenerate else stats.kendalltau(s, r).statistic)
        out["top1"].append(float(np.argmax(s) == np.argmax(r)))
        m = min(3, k)
        top_s, top_r = set(np.argsort(-s, kind="stable")[:m]), set(np.argsort(-r, kind="stable")[:m])
        out["top3"].append(len(top_s & top_r) / m)
    return {key: np.asarray(v, dtype=float) for key, v in out.items()}


def randomized_model(model: torch.nn.Module, n_layers: int = 2, seed: int = 0) -> torch.nn.Module:
    """A copy of ``model`` whose last ``n_layers`` layers with weights are re-initialised (seeded), for
    the model-randomisation sanity check (Adebayo et al., 2018)."""
    clone = copy.deepcopy(model)
    layers = [
        m
        for m in clone.modules()
        if hasattr(m, "reset_parameters") and any(p.requires_grad for p in m.parameters(recurse=False))
    ]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in layers[-n_layers:]:
            layer.reset_parameters()
    return clone.eval()


def part_scores(explanation: Explanation) -> torch.Tensor | None:
    """Scores summed per semantic part ``(B, P)`` using the units' majority part labels (SPG), or None
    when the sketches carry no part labels."""
    units = explanation.units
    parts = units.unit_parts()
    if parts is None:
        return None
    parts = parts.cpu()
    n_parts = max(len(units.part_names(i)) for i in range(len(units))) or int(parts.max()) + 1
    out = torch.zeros(len(parts), n_parts)
    ok = (parts >= 0) & explanation.unit_mask
    return out.scatter_add_(1, parts.clamp(min=0), torch.where(ok, explanation.scores, torch.zeros(1)))


def part_summary(explanation: Explanation) -> dict[str, dict[str, float]]:
    """For each sketch class, the mean score of each of its parts over its sketches, sorted high to
    low: which part drives the class."""
    per_part = part_scores(explanation)
    if per_part is None:
        return {}
    units = explanation.units
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(units)):
        groups[units.label(i) or "?"].append(i)
    summary = {}
    for name, idx in groups.items():
        names = units.part_names(idx[0])
        means = per_part[idx].mean(0)[: len(names) or None].tolist()  # not other classes' padded parts
        pairs = [(names[p] if p < len(names) else f"part {p}", v) for p, v in enumerate(means)]
        summary[name] = dict(sorted(pairs, key=lambda kv: -kv[1]))
    return summary
