"""Score several attribution methods on the same inputs, sketches or photos: faithfulness curves,
agreement with exact Shapley values and cost. `evaluate` is what ``strokelens evaluate``, the
benchmarks and any Python caller use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from strokelens.attribution.base import check_options
from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.games import Target, slice_target
from strokelens.methods import get_method
from strokelens.metrics import Curves, agreement, deletion_insertion
from strokelens.runner import BatchRunner, MethodRun, prefetch
from strokelens.runner.core import rows_of
from strokelens.views.base import View


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
#: The figures summarised by their median over inputs (rank correlations over a few units move in
#: steps); every other figure by its mean.
MEDIAN_FIGURES = frozenset({"spearman_vs_shapley", "kendall_vs_shapley"})


@dataclass
class MethodReport:
    """Per-sketch figures of one method, and their summary. ``inputs``, ``targets`` and ``n_units``
    say, for each position in the figure lists, which input (its place in the evaluated sequence)
    it measured, the class explained and its unit count; a method with a unit limit measures only
    the inputs within it."""

    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    inputs: list[int] = field(default_factory=list)
    targets: list[int | None] = field(default_factory=list)
    n_units: list[int] = field(default_factory=list)

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
        inputs: Sequence[int] | None = None,
    ) -> None:
        """Add one batch's figures (see `figure_names`): the deletion/insertion ``curves``, rank
        agreement of ``scores`` with the exact Shapley ``reference`` (NaN rows: no reference), and
        ``expl``'s cost per input; ``inputs``: the inputs' places (default: following the last)."""
        start = self.inputs[-1] + 1 if self.inputs else 0
        self.inputs.extend(range(start, start + len(scores)) if inputs is None else inputs)
        target = expl.target.tolist() if expl.target is not None else [None] * len(scores)
        self.targets.extend(target)
        self.n_units.extend(int(k) for k in n_units)
        agree = agreement(scores, torch.nan_to_num(reference), n_units)
        self.add("deletion_auc", curves.deletion_auc.tolist())
        self.add("insertion_auc", curves.insertion_auc.tolist())
        ok = ~torch.isnan(reference[:, 0]).cpu().numpy()
        for key in ("spearman", "kendall", "top1", "top3"):
            self.add(f"{key}_vs_shapley", np.where(ok, agree[key], np.nan))
        self.add(f"ms_per_{per}", [1000 * expl.seconds / len(expl.scores)] * len(scores))
        self.add(f"evaluations_per_{per}", [expl.evaluations] * len(scores))

    def summary(self, limit: int | None = None) -> dict[str, float]:
        """Means, except `MEDIAN_FIGURES`' medians, over the sketches (NaNs dropped); over the first
        ``limit`` sketches only when given."""
        out = {}
        for name, vals in self.values.items():
            arr = np.asarray(vals[:limit], dtype=float)
            arr = arr[~np.isnan(arr)]
            if not len(arr):
                out[name] = float("nan")
            else:
                out[name] = float(np.median(arr) if name in MEDIAN_FIGURES else arr.mean())
        return out


def evaluate(
    view: View,
    inputs: Sequence[Any],
    methods: Sequence[str],
    *,
    batch_size: int = 32,
    target: Target = "auto",
    unit_options: dict[str, Any] | None = None,
    seed: int = 0,
    score: str = "logit",
    options: dict[str, dict[str, Any]] | None = None,
    reference: str = "shapley",
    max_reference_units: int = 12,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, MethodReport]:
    """Run every method on every input (sketches or photos, as ``view`` takes them) and measure it.

    Units come from ``view.make_units(batch, **unit_options)``. The ``reference`` method's scores
    (exact Shapley values) are computed for each input with at most ``max_reference_units`` units,
    input by input, so one large input never costs its batch-mates their figures; the others get
    NaN agreement. A method that declares ``max_units`` runs on the inputs within it only.
    ``options`` maps a method name to its options (checked before any work). ``on_batch(n)`` is
    called after each batch of ``n`` inputs (progress bars). Returns ``{method: MethodReport}``.
    """
    inputs = list(inputs)
    if not inputs:
        raise StrokelensError("no inputs to evaluate")
    options = options or {}
    for name in {*methods, reference, *options}:
        check_options(get_method(name), options.get(name, {}))
    unknown = sorted(set(options) - {*methods, reference})
    if unknown:
        raise StrokelensError(f"options given for method(s) not evaluated: {', '.join(unknown)}")
    ref_limit = max_reference_units
    if get_method(reference).max_units is not None:
        ref_limit = min(ref_limit, get_method(reference).max_units)
    runners = {
        name: BatchRunner(view, MethodRun.of(name, options.get(name), seed=seed, score=score))
        for name in {*methods, reference}
    }
    reports = {name: MethodReport() for name in methods}
    per = view.kind.item

    def prepared():  # made a batch ahead, in a background thread, while the methods run
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            yield start, len(chunk), view.units_for(chunk, **(unit_options or {}))

    for start, size, units in prefetch(prepared()):
        batch_target = slice_target(target, start, start + size, len(inputs))
        game = view.game(units, batch_target, score)
        targets = game.target if game.target is not None else batch_target
        runs: dict[str, tuple[Explanation, torch.Tensor] | None] = {}

        def run(name: str, limit: int | None, units=units, targets=targets, runs=runs):
            if name not in runs:  # each method once per batch, on the inputs within its limit
                runs[name] = runners[name].attribute(units, targets, limit)
            return runs[name]

        ref_run = run(reference, ref_limit)
        ref_scores = torch.full((size, units.max_units), float("nan"))
        if ref_run is not None:
            ref_expl, ref_rows = ref_run
            ref_scores[ref_rows, : ref_expl.scores.shape[1]] = ref_expl.scores
        for name in methods:
            result = run(name, ref_limit if name == reference else get_method(name).max_units)
            if result is None:
                continue
            expl, rows = result
            subgame = game if len(rows) == size else view.game(expl.units, rows_of(targets, rows), score)
            curves = deletion_insertion(subgame, expl.scores)
            reference_rows = ref_scores[rows][:, : expl.scores.shape[1]]
            reports[name].measure(
                curves,
                expl.scores,
                reference_rows,
                expl.units.n_units.cpu(),
                expl,
                per=per,
                inputs=(rows + start).tolist(),
            )
        if on_batch is not None:
            on_batch(size)
    return reports
