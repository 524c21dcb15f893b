"""Superpixel explanations of real photos against lime_image: every method and every gws variant.

Tiny Darknet on the test split of the ImageNet sample photos whose file names name a class (the
target is that class), spread evenly over the classes; SLIC superpixels (50 by default) on the
224x224 centre crop, removed superpixels shown in their mean colour (lime_image's ``hide_color=None``);
the target probability (what lime fits). Every method scores the same superpixels:

- every pixel scoring technique x aggregation of ``gws`` (options ``pixel``/``aggregate``; Hartley
  et al., 2019), SWAG, ``gws-ig``/``gws-smoothgrad`` on presence at ``--steps`` evaluations, and a
  random ranking: the variants;
- gws-ig and gws-smoothgrad at ``--grad-steps``, occlusion, and on the first ``--reference-photos``
  photos Captum Lime and Kernel SHAP on the same binary presence;
- ``lime_image.LimeImageExplainer`` with the same label map as ``segmentation_fn``; a second seed on
  the reference photos gives the LIME-vs-LIME ceiling.

The ``gws_*`` figures are the variant of ``gws`` (pixel x aggregate, and the coalition count) that
costs at most 16 evaluations, runs at least 50x faster than lime_image in the same run (issue 25's
bars) and agrees best with lime_image here (``gws_variant`` names it; a test holds the registered
default's technique and pooling to it); coalitions are drawn ``uniform`` here, and how they are drawn
and how many, the rest of the default, is `benchmarks/gws_samplers.py`'s choice.
``best_cheap_variant`` is the best of any method at <= 4 evaluations. Figures: median wall ms per
photo, model evaluations per photo, median Spearman agreement with lime_image's weights per photo,
deletion/insertion AUC of the target probability over superpixels (mean; for the variants, the chosen
one and the old default), and median Spearman agreement with exact Shapley values at about 12 SLIC
superpixels (2^K evaluations a photo, on the first ``--shapley-photos`` photos).

    python benchmarks/superpixels.py --smoke   # or --quick: 2 photos, 20 superpixels, 50 LIME samples
    python benchmarks/superpixels.py --limit 100 --reference-photos 20 --shapley-photos 12 \
        --json benchmarks/results/superpixels.json   # the full run, the issue's size

``--resume DIR`` keeps each batch's figures in ``DIR`` (with the 1-minute load average at its start,
``load_average_median``/``_max`` in the results) and reuses them in a later run with the same settings,
so a full run may span sessions; delete a batch file measured on a busy machine to measure it again.
The run keeps about 1.3 of 2 cores busy (SLIC and lime's fits are single-threaded): a second process
with the same settings and ``--resume DIR --measure-backward`` (``OMP_NUM_THREADS=1``) measures the
missing batches from the last one back and stops where the first process has been.

Cost on 2 CPU cores: lime_image at 1,000 samples is ~17 s a photo, the variants a few seconds, the
references (a second lime_image seed, Lime, Kernel SHAP) ~45 s a reference photo and exact Shapley
~50 s a Shapley photo; with the coalition variants the variants take ~50 s a photo. A run on
2026-12-03 with niced work beside it measured 32 photos in 89 minutes (68 s a photo past the
references): about two hours at the full run's size, hence ``--resume``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from _batches import BatchStore, add_resume_options, check_resume_options
from _common import Size, benchmark_parser, write_figures
from _photo_batches import (
    PER_METHOD,
    batch_game,
    measure_batch,
    spread_test_photos,
    warm_up,
)
from strokelens.attribution.pixel_scores import AGGREGATES, PIXEL_SCORES
from strokelens.metrics import deletion_insertion
from strokelens.models import load_model
from strokelens.views import ImageView

#: name -> (registered method, score, options); options set to None are filled from the arguments.
METHODS = {
    "gws_logit": ("gws", "logit", {"pixel": "presence", "aggregate": "sum"}),
    "gws_ig": ("gws-ig", "prob", {"steps": None}),
    "gws_smoothgrad": ("gws-smoothgrad", "prob", {"samples": None}),
    "occlusion": ("occlusion", "prob", {}),
    "lime": ("lime", "prob", {"n_samples": None}),
    "kernelshap": ("kernelshap", "prob", {"n_samples": None}),
    "lime_image": ("lime-image", "prob", {"n_samples": None}),
}
#: The aggregations the paper's table lists (``abs-mean`` is SWAG's, a variant of its own).
PAPER_AGGREGATES = tuple(a for a in AGGREGATES if a != "abs-mean")
#: The registered default before this benchmark chose one: the gradient w.r.t. presence, summed.
OLD_DEFAULT = "gws_presence_sum"
#: The cheap budget of ``best_cheap_variant`` (any method).
BUDGET = 4
#: ``gws``'s default: the gws variant closest to lime_image at <= ``WIDE_BUDGET`` evaluations that is
#: at least ``MIN_SPEEDUP`` times faster than lime_image in the same run (issue 25's bars).
WIDE_BUDGET = 16
MIN_SPEEDUP = 50.0
#: Coalition counts of ``pixel="coalition"`` measured besides ``--steps`` (deletion curves too).
COALITION_SAMPLES = (1, 8, 16)


def variants(steps: int, aggregates: tuple[str, ...] = PAPER_AGGREGATES) -> dict[str, tuple[str, str, dict]]:
    """Figure name -> (registered method, score, options) of every gws variant (pixel scoring
    technique x one of ``aggregates``)."""
    out: dict[str, tuple[str, str, dict]] = {}
    for pixel in PIXEL_SCORES:
        for how in aggregates:
            opts: dict = {"pixel": pixel, "aggregate": how}
            if pixel.startswith("ig-"):
                opts["steps"] = steps
            if pixel in ("smoothgrad", "coalition"):
                opts["samples"] = steps
            if pixel == "coalition":  # as the committed run drew them (gws_samplers.py compares draws)
                opts["sampler"] = "uniform"
            out[f"gws_{pixel}_{how}".replace("-", "_")] = ("gws", "prob", opts)
    for samples in COALITION_SAMPLES:  # the coalition gradient beside its --steps cost: 1 and 16
        opts = {"pixel": "coalition", "aggregate": "sum", "samples": samples, "sampler": "uniform"}
        out[f"gws_coalition_sum_{samples}"] = ("gws", "prob", opts)
    out["swag"] = ("swag", "prob", {})
    out["gws_ig_presence"] = ("gws-ig", "prob", {"steps": steps})
    out["gws_smoothgrad_presence"] = ("gws-smoothgrad", "prob", {"samples": steps})
    out["random"] = ("random", "prob", {})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = benchmark_parser(
        __doc__,
        quick="2 photos, 20 superpixels, 50 LIME samples: about a minute (settings printed)",
        smoke="1 photo, 6 superpixels, 10 LIME samples, 2 gradient steps, variants pooled by sum, no Shapley",
    )
    p.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    p.add_argument("--limit", type=int, default=None, help="N photos spread over the classes (100; quick 2)")
    p.add_argument("--segments", type=int, default=None, help="SLIC n_segments (default 50; quick: 20)")
    p.add_argument("--lime-samples", type=int, default=None, help="default 1000 (quick: 50)")
    p.add_argument("--grad-steps", type=int, default=None, help="gws-ig steps / smoothgrad samples (16)")
    p.add_argument("--steps", type=int, default=BUDGET, help="the variants' IG steps / SmoothGrad samples")
    p.add_argument("--reference-photos", type=int, default=None, help="photos with the references (20)")
    p.add_argument("--shapley-photos", type=int, default=None, help="photos with exact Shapley (12)")
    p.add_argument("--shapley-segments", type=int, default=None, help="default 12 (quick: 8)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    add_resume_options(p)
    args = p.parse_args(argv)
    check_resume_options(p, args)
    n = args.size.pick
    args.limit = args.limit or n(full=100, quick=2, smoke=1)
    args.segments = args.segments or n(full=50, quick=20, smoke=6)
    args.lime_samples = args.lime_samples or n(full=1000, quick=50, smoke=10)
    args.grad_steps = args.grad_steps or n(full=16, quick=4, smoke=2)
    if args.reference_photos is None:
        args.reference_photos = n(full=20, quick=1, smoke=1)
    if args.shapley_photos is None:
        # exact_shapley itself runs in sla_variants' smoke run
        args.shapley_photos = n(full=12, quick=1, smoke=0)
    args.shapley_segments = args.shapley_segments or n(full=12, quick=8, smoke=4)
    for name in ("limit", "segments", "lime_samples", "grad_steps", "steps", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def table_of(args: argparse.Namespace) -> dict[str, tuple[str, str, dict]]:
    """Every method and variant with its options filled in."""
    out = {}
    for name, (method, score, opts) in METHODS.items():
        filled = {}
        for key, value in opts.items():
            if value is None:
                value = args.lime_samples if key == "n_samples" else args.grad_steps
            filled[key] = value
        out[name] = (method, score, filled)
    # A smoke run pools every pixel scoring technique one way only (by sum: the old default's way).
    aggregates = ("sum",) if args.size is Size.SMOKE else PAPER_AGGREGATES
    return {**out, **variants(args.steps, aggregates)}


def med(values) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.median(arr)) if len(arr) else float("nan")


def best_cheap(figures: dict, candidates, budget: int = BUDGET, speedup: float = 0.0) -> str:
    """The candidate of at most ``budget`` evaluations and at least ``speedup`` times faster than
    lime_image that agrees best with lime_image (none that fast, as in a smoke run's few LIME samples:
    the best within the budget)."""
    cheap = [n for n in candidates if figures[f"{n}_evaluations_per_image"] <= budget]
    fast = [n for n in cheap if figures[f"{n}_speedup_vs_lime_image"] >= speedup]
    return max(fast or cheap, key=lambda n: np.nan_to_num(figures[f"{n}_spearman_vs_lime_image"], nan=-2))


def settings_of(args: argparse.Namespace, n_photos: int) -> dict:
    """What a kept batch depends on: a ``--resume`` folder with other settings is refused."""
    keys = ("limit", "segments", "lime_samples", "grad_steps", "steps", "reference_photos")
    keys += ("shapley_photos", "shapley_segments", "batch_size", "device", "seed", "home")
    return {"n_photos": n_photos, **{k: getattr(args, k) for k in keys}}


def main() -> None:
    args = parse_args()
    console = Console(width=170)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = load_model("darknet-tiny", home=args.home, device=device)
    view = ImageView(model, baseline="mean")
    pairs = spread_test_photos(model, args.limit, args.home)
    table = table_of(args)
    names = list(table)
    variant_names = [n for n in names if n not in METHODS]
    curve_now = set(METHODS)  # the variants' curves wait for the choice
    warm_up(view, [p for p, _ in pairs[: args.batch_size]], device)
    console.print(
        f"{len(pairs)} test photos, {args.segments} SLIC superpixels, mean-colour baseline, target prob; "
        f"lime_image {args.lime_samples} samples (2nd seed, Lime, Kernel SHAP on the first "
        f"{min(args.reference_photos, len(pairs))}); variants' IG steps / SmoothGrad samples {args.steps}, "
        f"gws-ig/gws-smoothgrad {args.grad_steps}; exact Shapley at <= {args.shapley_segments} superpixels "
        f"on {min(args.shapley_photos, len(pairs))} photos; device {device}, {torch.get_num_threads()} "
        "threads" + ("" if args.size.is_full else f" [--{args.size.value}]"),
        highlight=False,
    )
    store = BatchStore(args.resume, settings_of(args, len(pairs)))
    if args.measure_backward:

        def figures_of(b: int) -> dict:
            return measure_batch(view, args, table, names, curve_now, pairs[b : b + args.batch_size], b)[0]

        store.measure_backward(
            range(0, len(pairs), args.batch_size),
            figures_of,
            lambda b: console.print(f"  photos from {b + 1} measured", highlight=False),
        )
        return
    acc: dict[str, defaultdict] = {key: defaultdict(list) for key in PER_METHOD}
    lime_vs_lime, n_units, shap_units, correct, kept, loads = [], [], [], [], [], []
    start = time.perf_counter()
    for b in range(0, len(pairs), args.batch_size):
        chunk = pairs[b : b + args.batch_size]
        res, game = store.load(b), None  # a resumed batch's game is rebuilt for the late curves
        resumed = res is not None
        if res is None:
            res, game = measure_batch(view, args, table, names, curve_now, chunk, b)
            store.save(b, res)
        for key in PER_METHOD:
            for name, values in res[key].items():
                acc[key][name].extend(values)
        loads.append(res["load_average"])
        lime_vs_lime += res["lime_vs_lime"]
        n_units += res["n_units"]
        shap_units += res["shap_units"]
        correct += res["correct"]
        kept.append((chunk, res["deferred"], game))
        done = min(b + args.batch_size, len(pairs))
        console.print(
            f"  {done}/{len(pairs)} photos, {time.perf_counter() - start:.0f} s"
            + (" (kept from an earlier run)" if resumed else ""),
            highlight=False,
        )
    ms, evals, dele, ins, vs_lime, vs_shap = (acc[key] for key in PER_METHOD)

    figures: dict[str, float | int | bool | str] = {
        "n_photos": len(pairs),
        "superpixels_mean": float(np.mean(n_units)),
        "lime_samples": args.lime_samples,
        "grad_steps": args.grad_steps,
        "steps": args.steps,
        "top1_accuracy": float(np.mean(correct)),
        "reference_photos": len(lime_vs_lime),
        "shapley_photos": len(shap_units),
        "shapley_superpixels_mean": float(np.mean(shap_units)) if shap_units else float("nan"),
        "lime_vs_lime_spearman": med(lime_vs_lime),
        "quick": not args.size.is_full,
        "load_average_median": float(np.median(loads)),  # 1-minute, at each batch's start (2 cores)
        "load_average_max": float(np.max(loads)),
    }
    lime_ms = statistics.median(ms["lime_image"])
    for name in names:
        figures[f"{name}_ms_per_image"] = statistics.median(ms[name])
        figures[f"{name}_evaluations_per_image"] = float(np.mean(evals[name]))
        figures[f"{name}_speedup_vs_lime_image"] = lime_ms / statistics.median(ms[name])
        if name != "lime_image":
            figures[f"{name}_spearman_vs_lime_image"] = med(vs_lime[name])
        if name in vs_shap:
            figures[f"{name}_spearman_vs_shapley12"] = med(vs_shap[name])
    # gws's default: a variant of gws itself (pixel x aggregate)
    chosen = best_cheap(figures, [n for n in variant_names if table[n][0] == "gws"], WIDE_BUDGET, MIN_SPEEDUP)
    wide = best_cheap(figures, [n for n in variant_names if table[n][0] == "gws"], WIDE_BUDGET)
    coalition = [
        n
        for n in variant_names
        if (table[n][2].get("pixel"), table[n][2].get("aggregate")) == ("coalition", "sum")
    ]
    # curves for the choice, what it replaces, the best within the wide budget and the coalition sums
    late = list(dict.fromkeys((chosen, OLD_DEFAULT, wide, *coalition)))
    for chunk, scores, game in kept:
        prob_game = game if game is not None else batch_game(view, args, chunk)[2]
        for name in late:
            curves = deletion_insertion(prob_game, scores[name])
            dele[name].extend(curves.deletion_auc.tolist())
            ins[name].extend(curves.insertion_auc.tolist())
    for name in dele:
        figures[f"{name}_deletion_auc"] = float(np.mean(dele[name]))
        figures[f"{name}_insertion_auc"] = float(np.mean(ins[name]))
    opts = table[chosen][2]
    figures["gws_variant"] = chosen
    figures["gws_pixel"] = opts["pixel"]
    figures["gws_aggregate"] = opts["aggregate"]
    figures["gws_samples"] = opts.get("samples", 16)
    for key in [k for k in figures if k.startswith(f"{chosen}_")]:
        figures["gws_" + key[len(chosen) + 1 :]] = figures[key]
    figures["gws_deletion_auc_vs_lime_image"] = (
        figures["gws_deletion_auc"] / figures["lime_image_deletion_auc"]
    )
    figures["best_cheap_variant"] = best_cheap(figures, [n for n in variant_names if n != "random"])
    figures["best_gws_within_16"] = wide
    print_table(console, figures, names, chosen, args)
    console.print(
        f"gws default (<= {WIDE_BUDGET} evaluations, >= {MIN_SPEEDUP:.0f}x faster than lime_image): {chosen} "
        f"(pixel={opts['pixel']}, aggregate={opts['aggregate']}); best variant at "
        f"<= {BUDGET} evaluations: {figures['best_cheap_variant']}; best gws at <= {WIDE_BUDGET}: {wide}; "
        f"total {time.perf_counter() - start:.0f} s",
        highlight=False,
    )
    write_figures(args.json, figures)


def print_table(console: Console, figures: dict, names: list[str], chosen: str, args) -> None:
    def cell(key: str, fmt: str) -> str:
        value = figures.get(key)
        return "" if value is None else format(value, fmt)

    table = Table(
        "method / variant",
        "evals / photo",
        "ms / photo",
        "speedup vs lime_image",
        "Spearman vs lime_image ↑",
        f"Spearman vs Shapley{args.shapley_segments} ↑",
        "deletion AUC ↓",
        "insertion AUC ↑",
        title=f"{figures['n_photos']} photos, Tiny Darknet, ~{figures['superpixels_mean']:.0f} superpixels "
        f"(top-1 {figures['top1_accuracy']:.0%}); LIME vs LIME (2nd seed, {figures['reference_photos']} "
        f"photos) Spearman {figures['lime_vs_lime_spearman']:.3f}; gws default = {chosen}",
    )
    order = sorted(
        names, key=lambda n: -np.nan_to_num(figures.get(f"{n}_spearman_vs_lime_image", 2.0), nan=-2)
    )
    for name in order:
        table.add_row(
            name,
            cell(f"{name}_evaluations_per_image", ".0f"),
            cell(f"{name}_ms_per_image", ".1f"),
            cell(f"{name}_speedup_vs_lime_image", ".1f"),
            cell(f"{name}_spearman_vs_lime_image", ".3f"),
            cell(f"{name}_spearman_vs_shapley12", ".3f"),
            cell(f"{name}_deletion_auc", ".3f"),
            cell(f"{name}_insertion_auc", ".3f"),
        )
    console.print(table)


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
