"""Top-1 of the shipped stroke transformer on the SPG test split (20 classes, 100 sketches each) and on
the held-out quickdraw-345x25 drawings of the SPG classes (`strokelens.datasets.load_qd345_spg` test
split: 107 drawings outside SPG, never trained on or used for model selection; all of them even with
--quick).

Also reports the per-class top-1 range and forward speed (sketches per second, batch 256, CPU unless
CUDA is present).

    python benchmarks/stroke_transformer_accuracy.py --quick --json out/stroke_transformer.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from strokelens.datasets import load_qd345_spg, load_spg
from strokelens.models import load_model
from strokelens.training import prepare_sketches


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 test sketches per class instead of 100")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model("stroke-transformer", home=args.home, device=device)
    sketches = load_spg("test", per_class=20 if args.quick else None, home=args.home)
    start = time.perf_counter()
    data = prepare_sketches(model, sketches)
    preds = []
    with torch.no_grad():
        for i in range(0, len(data), args.batch_size):
            pts, sid, _ = data.batch(torch.arange(i, min(i + args.batch_size, len(data))))
            preds.append(model(pts.to(device), sid.to(device)).argmax(1).cpu())
    seconds = time.perf_counter() - start
    correct = torch.cat(preds) == data.labels
    per_class = torch.zeros(len(model.class_names)).index_add_(0, data.labels, correct.float())
    per_class /= torch.bincount(data.labels, minlength=len(model.class_names)).clamp_min(1).float()
    held_out = load_qd345_spg("test", home=args.home)
    qd = prepare_sketches(model, held_out)
    with torch.no_grad():
        qd_pred = torch.cat(
            [
                model(
                    *(t.to(device) for t in qd.batch(torch.arange(i, min(i + args.batch_size, len(qd))))[:2])
                )
                .argmax(1)
                .cpu()
                for i in range(0, len(qd), args.batch_size)
            ]
        )

    figures = {
        "quick": args.quick,
        "stroke_transformer_spg_test_top1": round(float(correct.float().mean()), 4),
        "stroke_transformer_spg_test_n": len(sketches),
        "stroke_transformer_qd345x25_heldout_top1": round(float((qd_pred == qd.labels).float().mean()), 4),
        "stroke_transformer_qd345x25_heldout_n": len(held_out),
        "stroke_transformer_worst_class_top1": round(float(per_class.min()), 4),
        "stroke_transformer_best_class_top1": round(float(per_class.max()), 4),
        "stroke_transformer_sketches_per_second": round(len(sketches) / seconds, 1),
    }
    table = Table(
        "figure", "value", title=f"stroke transformer on SPG test and held-out quickdraw-345x25 ({device})"
    )
    for key, value in figures.items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    worst = per_class.argsort()[:3].tolist()
    console.print(
        "weakest classes: " + ", ".join(f"{model.class_names[i]} {per_class[i]:.2f}" for i in worst)
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
