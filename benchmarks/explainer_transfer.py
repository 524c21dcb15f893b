"""A learned explainer for a model strokelens did not ship, trained from the command line on the
user's own drawings, measured on drawings it never saw.

The model is the public 15-class QuickDraw CNN in ``tests/data/models/quickdraw15`` (ONNX, MIT; no
public TF.js model is in the repository); the drawings are quickdraw-345x25's of its 15 classes (375,
25 a class), given to ``strokelens train explainer --data FILE ...`` as a user would. The command
splits them per class (seeded: 10% validation, 20% held out), labels the drawings of up to 12 strokes
with exact Shapley values of every class (``2^K`` evaluations each), trains a ``fastshap`` explainer
with three heads, and measures the held-out drawings: median Spearman against exact Shapley values
and deletion AUC, beside occlusion (``K`` evaluations) and stroke length (none); and the occlusion
fallback for the least certain share of drawings (by the heads' spread) against the same share drawn
at random, with its evaluations per drawing. Figures are what the command's ``training.json`` says.

    python benchmarks/explainer_transfer.py --smoke   # 2 classes, 1 epoch, labels up to 6 strokes
    python benchmarks/explainer_transfer.py --json benchmarks/results/explainer_transfer.json
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from _common import benchmark_parser, write_figures
from strokelens.cli import main
from strokelens.home import home_path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "models" / "quickdraw15"
#: The issue's targets: held-out Spearman vs exact Shapley, and minutes from the command's start.
TARGETS = {"explainer_spearman_vs_shapley": 0.85, "total_minutes": 10.0}


def parse_args(argv: list[str] | None = None):
    p = benchmark_parser(__doc__, quick="15 classes, 3 epochs, labels up to 10 strokes", smoke="2 classes")
    p.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    p.add_argument("--max-minutes", type=float, default=5.0, help="training time limit (full run)")
    return p.parse_args(argv)


def command(args, out: Path) -> list[str]:
    """The ``strokelens train explainer`` command line of this size."""
    classes = (MODEL / "classes.txt").read_text(encoding="utf-8").split("\n")
    classes = [c for c in classes if c]
    pick = args.size.pick
    classes = pick(full=classes, quick=classes, smoke=["bicycle", "wine glass"])
    folder = home_path("data/quickdraw-345x25", args.home)
    data = [arg for c in classes for arg in ("--data", str(folder / f"{c}.ndjson"))]
    sizes = pick(
        full=["--max-minutes", str(args.max_minutes)],
        quick=["--epochs", "3", "--label-units", "10"],
        smoke=["--epochs", "1", "--label-units", "6", "--ensemble", "2", "--heldout", "8"],
    )
    model = [
        "--model",
        str(MODEL / "quickdraw_model_15_classes.onnx"),
        "--classes",
        str(MODEL / "classes.txt"),
    ]
    home = ["--home", args.home] if args.home else []
    return [
        "train",
        "explainer",
        *model,
        "--kind",
        "fastshap",
        *data,
        *sizes,
        *home,
        "--out",
        str(out),
        "--quiet",
    ]


def figures_of(record: dict, size) -> dict:
    """The flat figures of the command's training record."""
    out = {"quick": not size.is_full, "n_files": len(record["data"])}
    for key in ("n_train_inputs", "n_val_inputs", "n_test_inputs", "epochs_run", "best_epoch"):
        out[key] = record[key]
    out["label_evaluations"] = record["label_evaluations"]
    out["label_seconds"] = record["label_seconds"]
    out["train_seconds"] = record["wall_seconds"]
    out["total_minutes"] = round(record["total_wall_seconds"] / 60, 2)
    out.update(record["heldout"])
    return out


def show(figures: dict) -> None:
    table = Table("held-out drawings", "median Spearman vs exact Shapley", "deletion AUC ↓", "evaluations")
    for name, evals in (("explainer", "0"), ("occlusion", f"{figures['occlusion_evaluations']:.1f}")):
        table.add_row(
            name,
            f"{figures[f'{name}_spearman_vs_shapley']:.3f}",
            f"{figures[f'{name}_deletion_auc']:.3f}",
            evals,
        )
    table.add_row(
        "length", f"{figures['length_spearman_vs_shapley']:.3f}", f"{figures['length_deletion_auc']:.3f}", "0"
    )
    for key in sorted(k for k in figures if k.startswith("fallback_") and k.endswith("pct_evaluations")):
        base = key[: -len("_evaluations")]
        share = base[len("fallback_") : -len("pct")]
        table.add_row(
            f"explainer, least certain {share}% by occlusion (a random {share}%)",
            f"{figures[base + '_spearman_vs_shapley']:.3f} "
            f"({figures[base + '_random_spearman_vs_shapley']:.3f})",
            "",
            f"{figures[key]:.2f}",
        )
    Console().print(table)
    for key, target in TARGETS.items():
        value = figures[key]
        higher = "spearman" in key
        ok = value >= target if higher else value <= target
        print(f"target {key} {'>=' if higher else '<='} {target}: {value} ({'met' if ok else 'NOT met'})")


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "explainer"
        status = main(command(args, out))
        if status != 0:
            return status
        record = json.loads((out / "training.json").read_text(encoding="utf-8"))
    figures = figures_of(record, args.size)
    show(figures)
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
