"""What a stroke carries, after SketchXAI: how much the two shipped models rely on stroke shape, order
and location, on the SPG test split.

For each model (`strokelens.analysis.analyse`): top-1 intact and with one component disturbed on its
own (order shuffled, locations randomised to the inversion's starting point with sigma 0.1, shapes
straightened to their bounding-box diagonals), averaged over ``--seeds`` disturbance seeds; and per
drawing the exact Shapley values of the component game (the label's log-probability), whose mean
shares ``|phi_j| / sum |phi|`` say how much of each drawing's explanation each component carries.

The stroke transformer's arg-max and scores are over its 20 (SPG) classes; DoodleNet's over the 20
SPG classes among its 345, as elsewhere. DoodleNet sees ink, not drawing order: its game has two
players and its order figures are absent (``doodlenet_not_applicable`` says so), not reported as
intact.

    python benchmarks/stroke_components.py --smoke   # or --quick; the full run:
    python benchmarks/stroke_components.py --json benchmarks/results/stroke_components.json
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from rich.console import Console
from rich.table import Table

from _common import benchmark_parser, spg_classes_for, write_figures
from strokelens.analysis import COMPONENTS, analyse
from strokelens.datasets import load_spg, spg_classes
from strokelens.models import load_model

MODELS = {"st": "stroke-transformer", "doodlenet": "doodlenet"}
#: Figure-name suffix of each component disturbed.
DISTURBED = {"shape": "shape_straightened", "order": "order_shuffled", "location": "location_randomised"}


def figures_of(key: str, result) -> dict[str, float | int | str]:
    """Flat figures ``<key>_...`` of one model's analysis; not-applicable components are left out."""
    acc, drop = result.accuracy(), result.drop()
    share, phi = result.mean_share(), result.mean_shapley()
    out: dict[str, float | int | str] = {f"{key}_top1_intact": round(acc["intact"], 4)}
    for name in COMPONENTS:
        if acc[name] is None:
            continue
        out[f"{key}_top1_{DISTURBED[name]}"] = round(acc[name], 4)
        out[f"{key}_drop_{name}"] = round(drop[name], 4)
        out[f"{key}_share_{name}"] = round(share[name], 4)
        out[f"{key}_shapley_{name}"] = round(phi[name], 4)
    out[f"{key}_full_minus_empty"] = round(float((result.full_score - result.empty_score).mean()), 4)
    missing = [n for n in COMPONENTS if n not in result.applicable]
    if missing:
        out[f"{key}_not_applicable"] = ", ".join(missing) + " (a raster model sees ink, not drawing order)"
    out[f"{key}_ms_per_sketch"] = round(1000 * result.seconds / len(result), 2)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__, quick="5 test sketches a class, one seed", smoke="2 SPG classes x 3 test sketches, one seed"
    )
    parser.add_argument("--per-class", type=int, default=None, help="test sketches a class (default 100)")
    parser.add_argument("--seeds", type=int, default=2, help="disturbance seeds averaged over")
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    per_class = args.size.pick(full=args.per_class, quick=5, smoke=3)
    seeds = tuple(range(args.size.pick(full=args.seeds, quick=1, smoke=1)))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    sketches = load_spg("test", spg_classes_for(args.size, args.home), per_class=per_class, home=args.home)
    classes = spg_classes(args.home)
    out: dict[str, float | int | str | bool] = {
        "quick": not args.size.is_full,
        "n_sketches": len(sketches),
        "n_seeds": len(seeds),
        "sigma": args.sigma,
        "score": "log-prob",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }
    results = {}
    for key, name in MODELS.items():
        model = load_model(name, home=args.home, device=device)
        results[key] = analyse(
            model,
            sketches,
            seeds=seeds,
            sigma=args.sigma,
            classes=classes,
            score="log-prob",
            batch_size=args.batch_size,
        )
        out |= figures_of(key, results[key])
    out["wall_s"] = round(time.perf_counter() - start, 1)

    title = f"stroke components, {len(sketches)} SPG test sketches, {len(seeds)} seed(s)"
    short = {"st": "ST", "doodlenet": "DN"}
    headers = [f"{short[k]} {c}" for k in MODELS for c in ("top-1", "drop", "share")]
    table = Table("component", *headers, title=title)
    table.add_row(
        "intact", *(x for k in MODELS for x in (f"{results[k].accuracy()['intact']:.3f}", "-", "-"))
    )
    for name in COMPONENTS:
        cells = []
        for key in MODELS:
            r = results[key]
            if name not in r.applicable:
                cells += ["n/a", "n/a", "n/a"]
                continue
            cells += [f"{r.accuracy()[name]:.3f}", f"{r.drop()[name]:+.3f}", f"{r.mean_share()[name]:.3f}"]
        table.add_row(name, *cells)
    console = Console()
    console.print(table)
    console.print(
        "ST: stroke transformer; DN: DoodleNet over the 20 SPG classes. top-1 with the component "
        "disturbed, drop from intact, mean Shapley share. n/a: DoodleNet is a raster model; it sees ink, "
        "not the order strokes were drawn in.",
        soft_wrap=True,
    )
    console.print(f"wall time {out['wall_s']} s on {device}")
    write_figures(args.json, out)


if __name__ == "__main__":
    main()
