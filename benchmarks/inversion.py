"""Stroke location inversion on the SPG test split, for the stroke transformer and DoodleNet.

Recovery: every stroke's location is replaced by Gaussian noise (sigma 0.1, normalised frame) and
optimised back toward the true label with the published settings (SGD, lr 10, cosine to 1e-5, 100
iterations, steps clipped to 0.5). Transfer: the true locations are optimised toward a random other SPG
class (seeded). DoodleNet's recovery is also run with smaller steps (`TUNED`), reported under
``doodlenet_tuned_``. Arg-max and probabilities are over each model's full class list (20 for the stroke
transformer, 345 for DoodleNet). Also measures the stroke transformer's top-1 on the whole test split.

    python benchmarks/inversion.py --smoke   # or --quick; the full run:
    python benchmarks/inversion.py --json benchmarks/results/inversion.json
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from _common import Size, benchmark_parser, spg_classes_for, write_figures
from strokelens.datasets import load_spg, spg_classes
from strokelens.inversion import invert
from strokelens.models import load_model
from strokelens.training.sketch_data import evaluate, prepare_sketches

MODELS = ("stroke-transformer", "doodlenet")


def transformer_top1(
    model: torch.nn.Module, home: str | None, per_class: int | None = None, classes: list[str] | None = None
) -> float:
    return evaluate(model, prepare_sketches(model, load_spg("test", classes, per_class=per_class, home=home)))


def other_classes(labels: list[str], classes: list[str], seed: int) -> list[str]:
    """A random SPG class other than each sketch's own."""
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(classes) - 1, (len(labels),), generator=gen).tolist()
    out = []
    for label, k in zip(labels, picks, strict=True):
        others = [c for c in classes if c != label]
        out.append(others[k])
    return out


#: Smaller steps for DoodleNet, whose ink gradient reaches only a pixel or two (a second, labelled run).
TUNED = {"lr": 1.0, "max_step": 0.05, "iterations": 500}


def run_model(
    model: torch.nn.Module,
    key: str,
    sketches,
    goals: list[str] | None,
    batch_size: int,
    **options,
) -> dict[str, float]:
    """Recovery (and transfer toward ``goals`` unless None) of every sketch with ``options``; figures
    are named ``<key>_...``."""
    rec_ok, rec_before, err_before, err_after, start_p, final_p, trf_ok = [], [], [], [], [], [], []
    seconds = 0.0
    for lo in range(0, len(sketches), batch_size):
        chunk = sketches[lo : lo + batch_size]
        rec = invert(model, chunk, mode="recover", seed=lo, record_every=100, **options)
        seconds += rec.seconds
        if goals is not None:
            to = goals[lo : lo + batch_size]
            trf = invert(model, chunk, "transfer", to=to, record_every=100, **options)
            seconds += trf.seconds
            trf_ok.append(trf.success)
        rec_ok.append(rec.success)
        rec_before.append(rec.success_before)
        err_before.append(rec.error_before)
        err_after.append(rec.error_after)
        start_p.append(rec.start_prob)
        final_p.append(rec.final_prob)
    cat = lambda xs: torch.cat(xs).float()  # noqa: E731
    before, after = cat(err_before), cat(err_after)
    runs = 2 if goals is not None else 1
    out = {
        f"{key}_recovery_rate_before": round(float(cat(rec_before).mean()), 4),
        f"{key}_recovery_rate_after": round(float(cat(rec_ok).mean()), 4),
        f"{key}_location_error_before": round(float(before.median()), 4),
        f"{key}_location_error_after": round(float(after.median()), 4),
        f"{key}_location_error_ratio": round(float(after.median() / before.median()), 4),
        f"{key}_true_prob_before": round(float(cat(start_p).mean()), 4),
        f"{key}_true_prob_after": round(float(cat(final_p).mean()), 4),
        # per inversion of one sketch (recovery and transfer each count once)
        f"{key}_seconds_per_sketch": round(seconds / (runs * len(sketches)), 4),
    }
    if goals is not None:
        out[f"{key}_transfer_success"] = round(float(cat(trf_ok).mean()), 4)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="20 sketches (1 per class); top-1 on 10 sketches per class",
        smoke="2 sketches (2 classes), 3 iterations; top-1 on 5 sketches of those classes",
    )
    # 8 a class (160 sketches) fits about 10 minutes on 2 CPU cores: DoodleNet's 500-iteration tuned
    # recovery costs about 2 s a sketch there.
    parser.add_argument("--per-class", type=int, default=8, help="test sketches per class")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", default=None)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    per_class = args.size.pick(full=args.per_class, quick=1, smoke=1)
    classes = spg_classes_for(args.size, args.home)
    # A smoke run's inversions stop after 3 iterations (the published settings are 100; tuned 500).
    short = {"iterations": 3} if args.size is Size.SMOKE else {}
    t0 = time.perf_counter()

    models = {name: load_model(name, home=args.home) for name in MODELS}
    top1_per_class = args.size.pick(full=None, quick=10, smoke=5)
    top1 = transformer_top1(models["stroke-transformer"], args.home, top1_per_class, classes)
    figures: dict[str, float | bool] = {
        "quick": not args.size.is_full,
        "stroke_transformer_spg_test_top1": round(top1, 4),
    }
    sketches = load_spg("test", classes, per_class=per_class, home=args.home)
    goals = other_classes([s.label for s in sketches], spg_classes(args.home), args.seed)
    figures["n_sketches"] = len(sketches)
    for name in MODELS:
        key = name.replace("-", "_")
        figures.update(run_model(models[name], key, sketches, goals, args.batch_size, **short))
    tuned = run_model(
        models["doodlenet"], "doodlenet_tuned", sketches, None, args.batch_size, **TUNED | short
    )
    figures.update(tuned)
    figures["wall_seconds"] = round(time.perf_counter() - t0, 1)

    table = Table(title=f"stroke location inversion, {len(sketches)} SPG test sketches")
    table.add_column("figure")
    columns = [*(m.replace("-", "_") for m in MODELS), "doodlenet_tuned"]
    tuned_name = f"doodlenet, lr {TUNED['lr']}, step {TUNED['max_step']}, {TUNED['iterations']} it."
    for name in [*MODELS, tuned_name]:
        table.add_column(name)
    rows = (
        "recovery_rate_before",
        "recovery_rate_after",
        "location_error_before",
        "location_error_after",
        "location_error_ratio",
        "true_prob_before",
        "true_prob_after",
        "transfer_success",
        "seconds_per_sketch",
    )
    for row in rows:
        table.add_row(row, *(str(figures.get(f"{c}_{row}", "-")) for c in columns))
    console = Console()
    console.print(table)
    top1 = figures["stroke_transformer_spg_test_top1"]
    console.print(f"stroke transformer top-1 on the SPG test split: {top1}")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
