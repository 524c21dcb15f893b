"""SLA variants on DoodleNet and real SPG test sketches: Spearman vs exact Shapley and deletion AUC.

Every variant of ``sla-variant`` at one or two evaluations: score space (logit, prob, log-prob) x
presence (full z = 1, half z = 0.5, both averaged) x composition (the rasteriser's ink, additive)
x strokes or P-SLA pieces (3 a stroke) summed to strokes; beside them ``sla`` (the paper's), the
stroke-length baseline and random scores. The predicted class is the target. Figures per variant:
median Spearman vs exact Shapley values of the target logit and of its probability (sketches with at
most ``--max-shapley-units`` strokes), mean deletion/insertion AUC of the target probability, model
evaluations and median wall ms per sketch.

    python benchmarks/sla_variants.py --smoke   # or --quick: 20 sketches, Shapley up to 6 strokes
    python benchmarks/sla_variants.py --json benchmarks/results/sla_variants.json   # the full run
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, spg_classes_for, write_figures
from _photo_batches import exact_shapley
from strokelens.attribution.shapley import MAX_EXACT_UNITS
from strokelens.datasets import load_spg, spg_classes
from strokelens.methods import get_method
from strokelens.metrics import agreement, deletion_insertion
from strokelens.models import load_model
from strokelens.views import RasterSketchView, preprocess


def variants() -> dict[str, tuple[str, str, dict]]:
    """Figure name -> (registered method, score, options)."""
    out: dict[str, tuple[str, str, dict]] = {"sla": ("sla", "logit", {})}
    for score, presence, comp, pieces in itertools.product(
        ("logit", "prob", "log-prob"), ("full", "half", "full+half"), ("ink", "additive"), (0, 3)
    ):
        name = f"{score}_{presence}_{comp}" + ("_psla3" if pieces else "")
        opts = {"presence": presence, "composition": comp, "pieces": pieces}
        out[name.replace("-", "").replace("+", "_")] = ("sla-variant", score, opts)
    out["length"] = ("length", "logit", {})
    out["random"] = ("random", "logit", {})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = benchmark_parser(
        __doc__,
        quick="20 sketches, Shapley up to 6 strokes",
        smoke="4 sketches of 2 SPG classes, Shapley up to 4 strokes",
    )
    p.add_argument("--n", type=int, default=200, help="SPG test sketches spread over the 20 classes")
    p.add_argument("--max-shapley-units", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--home", default=None)
    args = p.parse_args(argv)
    args.n = args.size.pick(full=args.n, quick=20, smoke=4)
    args.max_shapley_units = args.size.pick(full=args.max_shapley_units, quick=6, smoke=4)
    return args


def main() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    args = parse_args()
    console = Console(width=150)
    torch.manual_seed(0)
    model = load_model("doodlenet", home=args.home)
    view = RasterSketchView(model)
    classes = spg_classes_for(args.size, args.home) or spg_classes(args.home)
    per_class = -(-args.n // len(classes))
    sketches = preprocess(load_spg("test", classes, per_class=per_class, home=args.home), model)
    order = sorted(range(len(sketches)), key=lambda i: (i % per_class, i))
    sketches = [sketches[i] for i in order][: args.n]
    cap = min(args.max_shapley_units, MAX_EXACT_UNITS)
    table_of = variants()
    console.print(
        f"{len(sketches)} SPG test sketches, DoodleNet, predicted class; exact Shapley on sketches with "
        f"<= {cap} strokes" + ("" if args.size.is_full else f" [--{args.size.value}]")
    )
    ms, evals, dele, ins = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    vs_logit, vs_prob = defaultdict(list), defaultdict(list)
    n_strokes, n_shap = [], 0
    start = time.perf_counter()
    for b in range(0, len(sketches), args.batch_size):
        chunk = sketches[b : b + args.batch_size]
        units = view.units_for(chunk, "stroke")
        prob_game = view.game(units, "auto", "prob")
        target = prob_game.target
        n_strokes.extend(units.n_units.tolist())
        small = (units.n_units <= cap).nonzero()[:, 0].tolist()
        ref = None
        if small:
            sub = units.select(small)
            ref = exact_shapley(view, sub, target[small])
            n_shap += len(small)
        for name, (method, score, opts) in table_of.items():
            expl = get_method(method)(view).attribute(units, target=target, score=score, **opts)
            ms[name].append(1000 * expl.seconds / len(chunk))
            evals[name].append(expl.evaluations)
            curves = deletion_insertion(prob_game, expl.scores)
            dele[name].extend(curves.deletion_auc.tolist())
            ins[name].extend(curves.insertion_auc.tolist())
            if ref is not None:
                s = expl.scores[small][:, : sub.max_units]
                k = sub.n_units.cpu()
                vs_logit[name].extend(agreement(s, ref["logit"].float(), k)["spearman"].tolist())
                vs_prob[name].extend(agreement(s, ref["prob"].float(), k)["spearman"].tolist())
        done = min(b + args.batch_size, len(sketches))
        console.print(
            f"  {done}/{len(sketches)} sketches, {time.perf_counter() - start:.0f} s", highlight=False
        )

    def med(values) -> float:
        arr = np.asarray(values, dtype=float)
        arr = arr[~np.isnan(arr)]
        return float(np.median(arr)) if len(arr) else float("nan")

    figures: dict[str, float | int | bool | str] = {
        "n_sketches": len(sketches),
        "strokes_mean": float(np.mean(n_strokes)),
        "shapley_sketches": n_shap,
        "max_shapley_units": cap,
        "quick": not args.size.is_full,
    }
    for name in table_of:
        figures[f"{name}_evaluations_per_sketch"] = float(np.mean(evals[name]))
        figures[f"{name}_ms_per_sketch"] = statistics.median(ms[name])
        figures[f"{name}_spearman_vs_shapley"] = med(vs_logit[name])
        figures[f"{name}_spearman_vs_shapley_prob"] = med(vs_prob[name])
        figures[f"{name}_deletion_auc"] = float(np.mean(dele[name]))
        figures[f"{name}_insertion_auc"] = float(np.mean(ins[name]))
    model_based = [n for n in table_of if n not in ("length", "random")]
    best = max(model_based, key=lambda n: np.nan_to_num(figures[f"{n}_spearman_vs_shapley"], nan=-2))
    best_del = min(model_based, key=lambda n: figures[f"{n}_deletion_auc"])
    figures["best_variant_by_spearman"] = best
    figures["best_variant_spearman_vs_shapley"] = figures[f"{best}_spearman_vs_shapley"]
    figures["best_variant_deletion_auc"] = figures[f"{best}_deletion_auc"]
    figures["best_variant_by_deletion"] = best_del
    figures["best_deletion_variant_deletion_auc"] = figures[f"{best_del}_deletion_auc"]

    table = Table(
        "variant",
        "evals",
        "ms / sketch",
        "Spearman vs Shapley (logit) ↑",
        "Spearman vs Shapley (prob) ↑",
        "deletion AUC ↓",
        "insertion AUC ↑",
        title=f"{len(sketches)} SPG test sketches, DoodleNet; exact Shapley on {n_shap} (<= {cap} strokes)",
    )
    for name in sorted(table_of, key=lambda n: -np.nan_to_num(figures[f"{n}_spearman_vs_shapley"], nan=-2)):
        table.add_row(
            name,
            f"{figures[f'{name}_evaluations_per_sketch']:.0f}",
            f"{figures[f'{name}_ms_per_sketch']:.1f}",
            f"{figures[f'{name}_spearman_vs_shapley']:.3f}",
            f"{figures[f'{name}_spearman_vs_shapley_prob']:.3f}",
            f"{figures[f'{name}_deletion_auc']:.3f}",
            f"{figures[f'{name}_insertion_auc']:.3f}",
        )
    console.print(table)
    console.print(
        f"best by Spearman: {best}; best by deletion AUC: {best_del}; "
        f"total {time.perf_counter() - start:.0f} s"
    )
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
