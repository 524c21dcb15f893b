"""How a trained explainer does on inputs it never trained on, beside what it replaces.

`heldout_report` runs the explainer, occlusion (``K`` evaluations an input) and stroke length (none)
on held-out inputs and measures each against exact Shapley values (`strokelens.explainers.labels`, on
the inputs that have them): median Spearman, and the deletion AUC of every input (lower is better).
It also measures the fallback the methods offer: the least certain share of the inputs (by the
explainer's `uncertainty`) explained by occlusion instead, its Spearman and its evaluations per input,
for each share asked; and how well the uncertainty ranks the inputs by their error (Spearman of
uncertainty against ``1 - Spearman vs Shapley``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from strokelens.attribution.baselines import StrokeLength
from strokelens.attribution.occlusion import Occlusion
from strokelens.errors import StrokelensError
from strokelens.explainers.explainer import Explainer
from strokelens.explainers.labels import ShapleyLabels
from strokelens.explainers.learned import occlusion_rows
from strokelens.metrics import agreement, deletion_insertion
from strokelens.views.base import View

#: The fallback shares the report measures by default.
FALLBACKS = (0.1, 0.25, 0.5)


def _median(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else float("nan")


def heldout_report(
    view: View,
    explainer: Explainer,
    inputs: Sequence[Any],
    labels: ShapleyLabels,
    fallbacks: Sequence[float] = FALLBACKS,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Figures of ``explainer`` (``fastshap``) on the held-out ``inputs`` (prepared here) with their exact
    ``labels`` (see the module docstring); keys ``<method>_spearman_vs_shapley`` (median over the
    labelled inputs), ``<method>_deletion_auc`` (mean over all), ``occlusion_evaluations``,
    ``fallback_<share>pct_*`` (the share in percent) and ``uncertainty_vs_error_spearman``."""
    if not explainer.kind.estimates_values:
        raise StrokelensError("the held-out report compares Shapley estimates: a fastshap explainer")
    if len(labels.values) != len(inputs) or not inputs:
        raise StrokelensError(f"{len(labels.values)} labels for {len(inputs)} held-out inputs")
    inputs = view.prepare(inputs)
    units_kind = {"kind": explainer.info.units} if view.kind.files.default_units else {}
    methods = ("explainer", Occlusion.name, StrokeLength.name)
    spearman: dict[str, list[float]] = {m: [] for m in methods}
    deletion: dict[str, list[float]] = {m: [] for m in methods}
    doubts: list[float] = []
    sizes: list[int] = []
    for start in range(0, len(inputs), batch_size):
        chunk = list(inputs[start : start + batch_size])
        game = view.game(view.units_for(chunk, **units_kind), "auto", explainer.info.score)
        rows = torch.arange(game.batch_size, device=game.device)
        learned, doubt = explainer.explain(game)
        scores = {
            "explainer": learned,
            Occlusion.name: occlusion_rows(game, rows),  # the same scores, v(N) being the prediction's
            StrokeLength.name: StrokeLength(view).scores(game)[0].to(game.device),
        }
        reference = torch.full((game.batch_size, game.max_units), float("nan"))
        for row, label in enumerate(labels.values[start : start + batch_size]):
            if label is not None:
                reference[row, : len(label)] = label[:, int(game.target[row])]
        ok = ~torch.isnan(reference[:, 0]).numpy()
        n_units = game.n_units.cpu()
        for name, s in scores.items():
            agree = agreement(s.detach().float().cpu(), torch.nan_to_num(reference), n_units)
            spearman[name].extend(np.where(ok, agree["spearman"], np.nan).tolist())
            deletion[name].extend(deletion_insertion(game, s.float()).deletion_auc.cpu().tolist())
        doubts.extend(doubt.cpu().tolist())
        sizes.extend(n_units.tolist())
    out: dict[str, Any] = {"n_heldout": len(inputs), "n_heldout_labelled": labels.n_labelled}
    for name in methods:
        out[f"{name}_spearman_vs_shapley"] = _median(np.asarray(spearman[name]))
        out[f"{name}_deletion_auc"] = float(np.mean(deletion[name]))
    out["occlusion_evaluations"] = float(np.mean(sizes))
    out.update(_fallback_figures(np.asarray(doubts), spearman, np.asarray(sizes), fallbacks))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _fallback_figures(
    doubt: np.ndarray, spearman: dict[str, list[float]], sizes: np.ndarray, fallbacks: Sequence[float]
) -> dict[str, float]:
    """The explainer's figures with the least certain share of the inputs handed to occlusion (their
    cost: ``K`` evaluations each, per input of the whole set), for each share in ``fallbacks``."""
    learned, occlusion = np.asarray(spearman["explainer"]), np.asarray(spearman[Occlusion.name])
    out: dict[str, float] = {}
    order = np.argsort(-doubt, kind="stable")
    for share in fallbacks:
        n = math.ceil(share * len(doubt) - 1e-9)
        chosen = np.zeros(len(doubt), dtype=bool)
        chosen[order[:n]] = True
        key = f"fallback_{round(share * 100)}pct"
        out[f"{key}_spearman_vs_shapley"] = _median(np.where(chosen, occlusion, learned))
        out[f"{key}_evaluations"] = float(np.where(chosen, sizes, 0).mean())
        # the same share chosen at random, for comparison: the mean over its expected mix
        out[f"{key}_random_spearman_vs_shapley"] = _median(_random_mix(learned, occlusion, n))
    ok = ~np.isnan(learned)
    if ok.sum() > 2 and np.ptp(doubt[ok]) > 0:
        from scipy import stats

        out["uncertainty_vs_error_spearman"] = float(stats.spearmanr(doubt[ok], 1 - learned[ok]).statistic)
    else:
        out["uncertainty_vs_error_spearman"] = float("nan")
    return out


def _random_mix(learned: np.ndarray, occlusion: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``learned`` with ``n`` inputs drawn at random (seeded) taken from ``occlusion``."""
    pick = np.random.default_rng(seed).permutation(len(learned))[:n]
    mixed = learned.copy()
    mixed[pick] = occlusion[pick]
    return mixed
