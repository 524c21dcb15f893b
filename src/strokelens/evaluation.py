"""Score several attribution methods on the same sketches: faithfulness curves, agreement with exact
Shapley values and cost. Used by ``strokelens evaluate`` and ``benchmarks/faithfulness.py``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from strokelens.attribution import get_method
from strokelens.attribution.base import Explanation
from strokelens.attribution.shapley import MAX_EXACT_UNITS
from strokelens.metrics import Curves, agreement, deletion_insertion
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units import make_units


def figure_names(per: str = "sketch") -> tuple[str, ...]:
    """The figures every method gets, per ``sketch`` or per ``image``."""
    return (
        "deletion_auc",
        "insertion_auc",
        "spearman_vs_shapley",
        "kendall_vs_shapley",
        "top1_vs_shapley",
        "top3_vs_shapley",
        f"ms_per_{per}",
        f"evaluations_per_{per}",
    )


#: Per-sketch figures every method gets.
FIGURES = figure_names("sketch")


@dataclass
class MethodReport:
    """Per-sketch figures of one method, and their summary."""

    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, name: str, values: Sequence[float]) -> None:
        self.values[name].extend(float(v) for v in values)

    def measure(
        self,
        curves: Curves,
        scores: torch.Tensor,
        reference: torch.Tensor,
        n_units: torch.Tensor,
        expl: Explanation,
        per: str = "sketch",
    ) -> None:
        """Add one batch's figures (see `figure_names`): the deletion/insertion ``curves``, rank
        agreement of ``scores`` with the exact Shapley ``reference`` (NaN rows: no reference), and
        ``expl``'s cost per input."""
        agree = agreement(scores, torch.nan_to_num(reference), n_units)
        self.add("deletion_auc", curves.deletion_auc.tolist())
        self.add("insertion_auc", curves.insertion_auc.tolist())
        ok = ~torch.isnan(reference[:, 0]).cpu().numpy()
        for key in ("spearman", "kendall", "top1", "top3"):
            self.add(f"{key}_vs_shapley", np.where(ok, agree[key], np.nan))
        self.add(f"ms_per_{per}", [1000 * expl.seconds / len(expl.scores)] * len(scores))
        self.add(f"evaluations_per_{per}", [expl.evaluations] * len(scores))

    def summary(self, limit: int | None = None) -> dict[str, float]:
        """Means, except rank agreement, which is the median over sketches (NaNs dropped); over the
        first ``limit`` sketches only when given."""
        out = {}
        for name, vals in self.values.items():
            arr = np.asarray(vals[:limit], dtype=float)
            arr = arr[~np.isnan(arr)]
            if not len(arr):
                out[name] = float("nan")
            elif name.endswith("_vs_shapley") and name.startswith(("spearman", "kendall")):
                out[name] = float(np.median(arr))
            else:
                out[name] = float(arr.mean())
        return out


def evaluate_methods(
    view: Any,
    sketches: Sequence[Sketch],
    methods: Sequence[str],
    batch_size: int = 32,
    target: Any = "auto",
    units: str = "stroke",
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    max_shapley_units: int = 12,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, MethodReport]:
    """Run every method on every sketch and measure it.

    Exact Shapley values (the reference for rank agreement) are computed for sketches with at most
    ``max_shapley_units`` units; the others get NaN agreement. ``options`` maps a method name to extra
    keyword arguments. ``on_batch(n)`` is called after each batch of ``n`` sketches (progress bars).
    """
    options = options or {}
    max_shapley_units = min(max_shapley_units, MAX_EXACT_UNITS)
    device = next(view.model.parameters()).device
    reports = {name: MethodReport() for name in methods}
    for start in range(0, len(sketches), batch_size):
        chunk = list(sketches[start : start + batch_size])
        batch = SketchBatch.from_sketches(chunk, device=device)
        unit_set = make_units(batch, units)
        small = (unit_set.n_units <= max_shapley_units).nonzero()[:, 0]
        reference = torch.full((len(chunk), unit_set.max_units), float("nan"))
        shapley_expl = None
        if len(small):
            sub_units = make_units(_select(batch, small), units)
            shapley_expl = get_method("shapley")(view).attribute(sub_units, target=target, seed=seed)
            reference[small.cpu(), : sub_units.max_units] = shapley_expl.scores
        game = view.game(unit_set, target)
        for name in methods:
            if name == "shapley":
                if shapley_expl is None:
                    continue
                expl, rows, scores = shapley_expl, small.cpu(), torch.nan_to_num(reference)
            else:
                expl = get_method(name)(view).attribute(
                    unit_set, target=game.target, seed=seed, **options.get(name, {})
                )
                scores, rows = expl.scores, torch.arange(len(chunk))
            subgame = _subgame(view, unit_set, game, rows)
            curves = deletion_insertion(subgame, scores[rows][:, : subgame.max_units])
            reports[name].measure(curves, scores[rows], reference[rows], unit_set.n_units[rows].cpu(), expl)
        if on_batch is not None:
            on_batch(len(chunk))
    return reports


def _select(batch: SketchBatch, rows: torch.Tensor) -> SketchBatch:
    return SketchBatch.from_sketches([batch.sketches[i] for i in rows.tolist()], device=batch.device)


def _subgame(view: Any, unit_set: Any, game: Any, rows: torch.Tensor) -> Any:
    """The game restricted to ``rows`` (all rows: the game itself)."""
    if len(rows) == len(unit_set.n_units):
        return game
    sub_units = make_units(_select(unit_set.original, rows.to(unit_set.n_units.device)), unit_set.kind)
    return view.game(sub_units, game.target[rows.to(game.device)])
