"""Validation top-1 of stroke-transformer candidates beside the shipped ``stroke-transformer-mixed``:
how a new training command is chosen before anyone looks at test drawings. Never reads a test split.

Each ``--weights DIR`` is a folder that ``strokelens train stroke-transformer --out DIR`` wrote. Every
model reads, with figures keyed by the folder's name (``shipped`` for the shipped weights):

- ``qd345_val``: quickdraw-345x25's 30 validation drawings of the SPG classes;
- ``spg_val``: SPG's validation split (2,000 sketches);
- ``extra_left``: quickdraw-extra's drawings of the SPG classes that training leaves out (not held
  out by any benchmark, and past the 100 a class that ``--extra-data quickdraw-extra`` takes:
  2,313 drawings of duck, butterfly and ant), and ``extra_left_1_2_strokes``, those of one or two
  strokes;
- ``other_drawers_correct``: drawings read right among ``qd345_val`` and ``extra_left`` together.

    python benchmarks/stroke_transformer_candidates.py --smoke   # the shipped weights, a few drawings
    python benchmarks/stroke_transformer_candidates.py --weights DIR [--weights DIR ...] \
        --json benchmarks/results/stroke_transformer_candidates.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from _common import benchmark_parser, print_figures, write_figures
from strokelens.datasets import load_qd345_spg, load_spg, spg_classes
from strokelens.models import load_model
from strokelens.models.stroke_transformer import WEIGHTS_NAME, StrokeTransformer
from strokelens.training.explainer_data import heldout_keys, quickdraw_extra, spread_per_class, unseen
from strokelens.training.sketch_data import evaluate, prepare_sketches


def left_out_extra(home: str | None, classes: list[str], per_class: int) -> list:
    """quickdraw-extra's unseen drawings of ``classes`` that ``--extra-data quickdraw-extra
    --extra-per-class per_class`` does not take (`strokelens.training.explainer_data.unseen_extra`
    takes the others)."""
    drawings = unseen(quickdraw_extra(home, classes), heldout_keys(home))
    taken = {id(s) for s in spread_per_class(drawings, per_class)}
    return [s for s in drawings if id(s) not in taken]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="every drawing (a few seconds a model)",
        smoke="the shipped weights on 40 drawings of each set",
    )
    parser.add_argument("--weights", type=Path, action="append", default=[], help="a candidate's folder")
    parser.add_argument(
        "--extra-per-class", type=int, default=100, help="as the candidates were trained with (100)"
    )
    parser.add_argument("--home", default=None)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    torch.set_grad_enabled(False)
    limit = args.size.pick(full=None, quick=None, smoke=40)
    classes = spg_classes(args.home)
    left = left_out_extra(args.home, classes, args.extra_per_class)
    sets = {
        "qd345_val": load_qd345_spg("val", home=args.home),
        "spg_val": load_spg("val", home=args.home),
        "extra_left": left,
        "extra_left_1_2_strokes": [s for s in left if s.n_strokes <= 2],
    }
    sets = {key: drawings[:limit] for key, drawings in sets.items()}
    models = {"shipped": load_model("stroke-transformer-mixed", home=args.home)}
    for folder in args.weights:
        models[folder.name] = StrokeTransformer.from_files(
            folder / f"{WEIGHTS_NAME}.safetensors", folder / f"{WEIGHTS_NAME}.json"
        )
    figures: dict = {"quick": not args.size.is_full, **{f"{k}_n": len(v) for k, v in sets.items()}}
    for name, model in models.items():
        model.eval()
        top1 = {key: evaluate(model, prepare_sketches(model, drawings)) for key, drawings in sets.items()}
        figures.update({f"{name}_{key}_top1": round(value, 4) for key, value in top1.items()})
        figures[f"{name}_other_drawers_correct"] = round(
            top1["qd345_val"] * len(sets["qd345_val"]) + top1["extra_left"] * len(sets["extra_left"])
        )
    print_figures(figures, "stroke-transformer candidates on validation drawings (no test split)")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
