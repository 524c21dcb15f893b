"""How ``gws`` draws its coalitions on photos, and how many: every sampler x count against lime_image.

``gws`` on photos averages the gradient w.r.t. superpixel presence over random coalitions
(``pixel="coalition"``, summed per superpixel): an estimate of each superpixel's average effect, which
lime_image's linear fit approaches. How the presences are drawn sets the estimate's noise at a given
count: independent ``uniform`` draws, ``stratified`` (a Latin hypercube: each superpixel's presences
one in each of ``samples`` equal strata) or ``antithetic`` (each draw with its mirror ``1 - z``).

The photos, superpixels, baseline and score of `benchmarks/superpixels.py` (Tiny Darknet, the test
split spread over the classes, SLIC at 50 segments, mean colour, the target probability); every
batch runs lime_image (1,000 samples) and each sampler at each count in the same run, timed, so the
speedups compare as ratios. Figures per variant ``gws_<sampler>_<samples>``: median wall ms a photo,
the speedup over lime_image, median Spearman agreement with lime_image per photo; deletion/insertion
AUC of the target probability for lime_image, the chosen variant and the uniform draws at its count.

``gws``'s default on photos (`ImageView.gws_default`, held to this file by a test) is the variant
that agrees best with lime_image at <= 16 evaluations and >= 50x faster than lime_image in the same
run (issue 25's bars); the samplers themselves were compared first on 16 photos of the *train* split
(docs/variants.md). ``--resume DIR`` keeps each batch, lime_image's scores included, so that a run may
span sessions, and a second process with ``--resume DIR --measure-backward`` takes the run's tail.

    python benchmarks/gws_samplers.py --smoke    # or --quick: 2 photos, 50 LIME samples
    python benchmarks/gws_samplers.py --json benchmarks/results/gws_samplers.json   # 100 photos

Cost on 2 CPU cores: lime_image ~9 s a photo, the variants ~3 s, the curves ~1 s: about 24 minutes
for 100 photos (the full run of 2026-12-04), less with a second process.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import defaultdict

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from _batches import BatchStore, add_resume_options, check_resume_options
from _common import benchmark_parser, write_figures
from _photo_batches import batch_game, run, spread_test_photos, warm_up
from strokelens.attribution.coalitions import SAMPLERS
from strokelens.attribution.precision import BFLOAT16, FLOAT32, native_bfloat16
from strokelens.metrics import agreement, deletion_insertion
from strokelens.models import load_model
from strokelens.views import ImageView

#: The samplers compared (lime_image's own fair coin, ``bernoulli``, stays far behind: docs/variants.md).
COMPARED = tuple(s for s in SAMPLERS if s != "bernoulli")
#: Coalition counts compared, and issue 25's bars for the default.
COUNTS = (4, 8, 12, 14, 16)
MAX_EVALUATIONS = 16
MIN_SPEEDUP = 50.0
REFERENCE = "lime_image"
#: lime_image with its model calls in bfloat16, timed on the first ``--lime-bf16-photos`` photos where
#: the device computes bfloat16 natively: the speedup of a bfloat16 variant at equal precision.
LIME_BF16 = "lime_image_bf16"


def variant(sampler: str, samples: int, precision: str = FLOAT32) -> str:
    return f"gws_{sampler}_{samples}" + ("" if precision == FLOAT32 else "_bf16")


def table_of(
    lime_samples: int, counts: tuple[int, ...], precisions: tuple[str, ...] = (FLOAT32,)
) -> dict[str, tuple[str, str, dict]]:
    """Figure name -> (registered method, score, options): lime_image, then every sampler x count x
    precision of the model calls."""
    out = {REFERENCE: ("lime-image", "prob", {"n_samples": lime_samples})}
    for precision in precisions:
        for samples in counts:
            for sampler in COMPARED:
                opts = {"pixel": "coalition", "aggregate": "sum", "samples": samples, "sampler": sampler}
                out[variant(sampler, samples, precision)] = ("gws", "prob", opts | {"precision": precision})
    return out


def parse_args(argv: list[str] | None = None):
    p = benchmark_parser(
        __doc__,
        quick="2 photos, 20 superpixels, 50 LIME samples: under a minute",
        smoke="1 photo, 6 superpixels, 10 LIME samples, 4 coalitions",
    )
    p.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    p.add_argument("--limit", type=int, default=None, help="N test photos spread over the classes (100)")
    p.add_argument("--segments", type=int, default=None, help="SLIC n_segments (default 50)")
    p.add_argument("--lime-samples", type=int, default=None, help="default 1000")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--lime-bf16-photos", type=int, default=None, help="photos lime_image also runs in bfloat16 on (16)"
    )
    add_resume_options(p)
    args = p.parse_args(argv)
    check_resume_options(p, args)
    n = args.size.pick
    args.limit = args.limit or n(full=100, quick=2, smoke=1)
    args.segments = args.segments or n(full=50, quick=20, smoke=6)
    args.lime_samples = args.lime_samples or n(full=1000, quick=50, smoke=10)
    args.counts = n(full=COUNTS, quick=COUNTS, smoke=(4,))
    if args.lime_bf16_photos is None:
        args.lime_bf16_photos = n(full=16, quick=2, smoke=1)
    for name in ("limit", "segments", "lime_samples", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def measure_batch(view: ImageView, args, table: dict, chunk: list, lime_bf16: bool = False) -> dict:
    """Every variant on one batch: ms a photo, scores, Spearman with lime_image and lime_image's own
    curves (the variants' curves wait for the choice); with ``lime_bf16`` also lime_image's ms a photo
    with its model calls in bfloat16 (`LIME_BF16`)."""
    _, units, game = batch_game(view, args, chunk)
    k = units.n_units.cpu()
    out: dict = {"load_average": os.getloadavg()[0], "n_units": k.tolist(), "ms": {}, "scores": {}}
    for name, entry in table.items():
        scores, seconds, _ = run(view, units, game.target, entry, args.seed)
        out["ms"][name] = 1000 * seconds / len(units)
        out["scores"][name] = scores
    if lime_bf16:
        method, score, opts = table[REFERENCE]
        seconds = run(view, units, game.target, (method, score, opts | {"precision": BFLOAT16}), args.seed)[1]
        out["ms"][LIME_BF16] = 1000 * seconds / len(units)
    reference = out["scores"][REFERENCE]
    out["vs_lime"] = {
        name: agreement(s, reference, k)["spearman"].tolist()
        for name, s in out["scores"].items()
        if name != REFERENCE
    }
    curves = deletion_insertion(game, reference)
    out["lime_curves"] = (curves.deletion_auc.tolist(), curves.insertion_auc.tolist())
    return out


def main() -> None:
    args = parse_args()
    console = Console(width=150)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = load_model("darknet-tiny", home=args.home, device=device)
    view = ImageView(model, baseline="mean")
    pairs = spread_test_photos(model, args.limit, args.home)
    native = native_bfloat16(device)
    precisions = (FLOAT32, BFLOAT16) if native else (FLOAT32,)
    table = table_of(args.lime_samples, args.counts, precisions)
    warm_up(view, [p for p, _ in pairs[: args.batch_size]], device)
    console.print(
        f"{len(pairs)} test photos, {args.segments} SLIC superpixels, mean-colour baseline, target prob; "
        f"lime_image {args.lime_samples} samples; samplers {', '.join(COMPARED)} x {args.counts} coalitions "
        f"x model calls in {' and '.join(precisions)}; "
        f"device {device}, {torch.get_num_threads()} threads"
        + ("" if args.size.is_full else f" [--{args.size.value}]"),
        highlight=False,
    )
    settings = {
        k: getattr(args, k)
        for k in (
            "limit",
            "segments",
            "lime_samples",
            "batch_size",
            "device",
            "seed",
            "home",
            "lime_bf16_photos",
        )
    }
    settings["precisions"] = list(precisions)
    store = BatchStore(args.resume, {"n_photos": len(pairs), "counts": list(args.counts), **settings})

    def measure(b: int) -> dict:
        lime_bf16 = native and b < args.lime_bf16_photos
        return measure_batch(view, args, table, pairs[b : b + args.batch_size], lime_bf16)

    starts = range(0, len(pairs), args.batch_size)
    if args.measure_backward:
        store.measure_backward(
            starts,
            measure,
            lambda b: console.print(f"  photos from {b + 1} measured", highlight=False),
        )
        return
    ms, vs_lime, loads, n_units, batches = defaultdict(list), defaultdict(list), [], [], []
    start = time.perf_counter()
    for b in starts:
        res = store.load(b)
        resumed = res is not None
        if res is None:
            res = measure(b)
            store.save(b, res)
        for name, value in res["ms"].items():
            ms[name].append(value)
        for name, values in res["vs_lime"].items():
            vs_lime[name].extend(values)
        loads.append(res["load_average"])
        n_units += res["n_units"]
        batches.append(res)
        console.print(
            f"  {min(b + args.batch_size, len(pairs))}/{len(pairs)} photos, "
            f"{time.perf_counter() - start:.0f} s" + (" (kept from an earlier run)" if resumed else ""),
            highlight=False,
        )
    figures: dict = {
        "n_photos": len(pairs),
        "superpixels_mean": float(np.mean(n_units)),
        "lime_samples": args.lime_samples,
        "quick": not args.size.is_full,
        "load_average_median": float(np.median(loads)),
        "load_average_max": float(np.max(loads)),
    }
    lime_ms = statistics.median(ms[REFERENCE])
    for name in table:
        figures[f"{name}_ms_per_image"] = statistics.median(ms[name])
        figures[f"{name}_speedup_vs_lime_image"] = lime_ms / statistics.median(ms[name])
        if name != REFERENCE:
            figures[f"{name}_evaluations_per_image"] = float(table[name][2]["samples"])
            figures[f"{name}_spearman_vs_lime_image"] = float(np.median(vs_lime[name]))
    variants = [n for n in table if n != REFERENCE]
    fits = [
        n
        for n in variants
        if figures[f"{n}_evaluations_per_image"] <= MAX_EVALUATIONS
        and figures[f"{n}_speedup_vs_lime_image"] >= MIN_SPEEDUP
    ]
    chosen = max(fits or variants, key=lambda n: figures[f"{n}_spearman_vs_lime_image"])
    opts = table[chosen][2]
    before = variant("uniform", opts["samples"])
    dele, ins = defaultdict(list), defaultdict(list)
    for b, res in zip(starts, batches, strict=True):
        dele[REFERENCE] += res["lime_curves"][0]
        ins[REFERENCE] += res["lime_curves"][1]
        game = batch_game(view, args, pairs[b : b + args.batch_size])[2]
        for name in dict.fromkeys((chosen, before)):
            curves = deletion_insertion(game, res["scores"][name])
            dele[name] += curves.deletion_auc.tolist()
            ins[name] += curves.insertion_auc.tolist()
    for name in dele:
        figures[f"{name}_deletion_auc"] = float(np.mean(dele[name]))
        figures[f"{name}_insertion_auc"] = float(np.mean(ins[name]))
    figures |= {
        "gws_variant": chosen,
        "gws_sampler": opts["sampler"],
        "gws_samples": opts["samples"],
        "gws_precision": opts["precision"],
        "gws_meets_speed_bar": bool(fits),
        "gws_spearman_vs_lime_image": figures[f"{chosen}_spearman_vs_lime_image"],
        "gws_speedup_vs_lime_image": figures[f"{chosen}_speedup_vs_lime_image"],
        "gws_ms_per_image": figures[f"{chosen}_ms_per_image"],
        "gws_deletion_auc": figures[f"{chosen}_deletion_auc"],
        "gws_deletion_auc_vs_lime_image": figures[f"{chosen}_deletion_auc"]
        / figures[f"{REFERENCE}_deletion_auc"],
    }
    figures |= speedup_at_equal_precision(batches, chosen)
    print_table(console, figures, table, chosen)
    console.print(
        f"gws default (<= {MAX_EVALUATIONS} evaluations, >= {MIN_SPEEDUP:.0f}x faster than lime_image): "
        f"{chosen}; "
        f"total {time.perf_counter() - start:.0f} s",
        highlight=False,
    )
    write_figures(args.json, figures)


def speedup_at_equal_precision(batches: list[dict], chosen: str) -> dict:
    """lime_image's ms a photo in bfloat16 and the chosen variant's speedup over it, on the batches
    that timed both (none where the device lacks native bfloat16)."""
    timed = [res for res in batches if LIME_BF16 in res["ms"]]
    if not timed:
        return {}

    def median(name: str) -> float:
        return statistics.median(res["ms"][name] for res in timed)

    lime = median(LIME_BF16)
    return {
        f"{LIME_BF16}_photos": sum(len(res["n_units"]) for res in timed),
        f"{LIME_BF16}_ms_per_image": lime,
        f"{LIME_BF16}_speedup_vs_lime_image": median(REFERENCE) / lime,
        "gws_speedup_vs_lime_image_bf16": lime / median(chosen),
    }


def print_table(console: Console, figures: dict, table: dict, chosen: str) -> None:
    def cell(key: str, fmt: str) -> str:
        value = figures.get(key)
        return "" if value is None else format(value, fmt)

    out = Table(
        "variant",
        "evals / photo",
        "ms / photo",
        "speedup vs lime_image",
        "Spearman vs lime_image ↑",
        "deletion AUC ↓",
        "insertion AUC ↑",
        title=f"{figures['n_photos']} photos, Tiny Darknet, ~{figures['superpixels_mean']:.0f} superpixels; "
        f"gws default = {chosen}",
    )
    for name in table:
        out.add_row(
            name + (" *" if name == chosen else ""),
            cell(f"{name}_evaluations_per_image", ".0f"),
            cell(f"{name}_ms_per_image", ".1f"),
            cell(f"{name}_speedup_vs_lime_image", ".1f"),
            cell(f"{name}_spearman_vs_lime_image", ".3f"),
            cell(f"{name}_deletion_auc", ".3f"),
            cell(f"{name}_insertion_auc", ".3f"),
        )
    console.print(out)


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
