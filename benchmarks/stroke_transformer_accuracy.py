"""Top-1 of the shipped stroke transformers on the SPG test split (20 classes, 100 sketches each) and
on the held-out quickdraw-345x25 drawings of the SPG classes (`strokelens.datasets.load_qd345_spg`
test split: 107 drawings outside SPG, never trained on or used for model selection; all of them even
with --quick): ``stroke-transformer`` (trained on SPG; its figures keep the bare
``stroke_transformer_`` prefix) and ``stroke-transformer-mixed`` (SPG plus quickdraw-345x25's train
drawings and quickdraw-extra's of the SPG classes, varied augmentation).

Also reports the per-class top-1 range and forward speed (sketches per second, batch 256, CPU unless
CUDA is present), and for reference DoodleNet's top-1 on the same drawings with its 345 outputs
restricted to the SPG classes (``doodlenet_spg_classes_...``): a model trained on the whole of
QuickDraw, as a measure of how readable the held-out drawings are (issue 23 asks 0.92 of the mixed
stroke transformer on them).

    python benchmarks/stroke_transformer_accuracy.py --smoke   # or --quick; the full run:
    python benchmarks/stroke_transformer_accuracy.py \
        --json benchmarks/results/stroke_transformer_accuracy.json
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console

from _common import benchmark_parser, print_figures, spg_classes_for, write_figures
from model_accuracy import classify, labels, preset_images
from strokelens.datasets import load_qd345_spg, load_spg, spg_classes
from strokelens.models import load_model
from strokelens.training.sketch_data import prepare_sketches

MODELS = {"stroke_transformer": "stroke-transformer", "stroke_transformer_mixed": "stroke-transformer-mixed"}


def top1(model, sketches, batch_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sketch correctness and labels of ``model`` on ``sketches``."""
    data = prepare_sketches(model, sketches)
    preds = []
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            pts, sid, _ = data.batch(torch.arange(i, min(i + batch_size, len(data))))
            preds.append(model(pts.to(device), sid.to(device)).argmax(1).cpu())
    return torch.cat(preds) == data.labels, data.labels


def measure(name: str, key: str, spg, held_out, args, device: str) -> tuple[dict, dict[str, float]]:
    """Figures ``{key}_...`` of the shipped model ``name`` and its SPG top-1 by class name."""
    model = load_model(name, home=args.home, device=device)
    start = time.perf_counter()
    correct, labels = top1(model, spg, args.batch_size, device)
    seconds = time.perf_counter() - start
    n_classes = len(model.class_names)
    per_class = torch.zeros(n_classes).index_add_(0, labels, correct.float())
    per_class /= torch.bincount(labels, minlength=n_classes).clamp_min(1).float()
    qd_correct, _ = top1(model, held_out, args.batch_size, device)
    return {
        f"{key}_spg_test_top1": round(float(correct.float().mean()), 4),
        f"{key}_spg_test_n": len(spg),
        f"{key}_qd345x25_heldout_top1": round(float(qd_correct.float().mean()), 4),
        f"{key}_qd345x25_heldout_n": len(held_out),
        f"{key}_worst_class_top1": round(float(per_class.min()), 4),
        f"{key}_best_class_top1": round(float(per_class.max()), 4),
        f"{key}_sketches_per_second": round(len(spg) / seconds, 1),
    }, dict(zip(model.class_names, per_class.tolist(), strict=True))


def doodlenet_reference(spg, held_out, classes: list[str], args, device: str) -> dict[str, float]:
    """DoodleNet's top-1 on ``spg`` and ``held_out`` among ``classes`` only (its other outputs ignored),
    drawn and classified as `model_accuracy` does (``doodlenet_spg_test_top1_spg20`` there)."""
    model = load_model("doodlenet", home=args.home, device=device)
    columns = torch.tensor([model.class_names.index(c) for c in classes])
    figures = {}
    for key, sketches in (("spg_test", spg), ("qd345x25_heldout", held_out)):
        images = preset_images(sketches, args.batch_size, torch.device(device))
        logits = classify(model, images, args.batch_size)
        correct = columns[logits[:, columns].argmax(1)] == labels(model, sketches)
        figures[f"doodlenet_spg_classes_{key}_top1"] = round(float(correct.float().mean()), 4)
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="20 test sketches per class instead of 100",
        smoke="2 SPG classes x 5 test sketches, the held-out drawings of those classes",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--home", default=None)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    classes = spg_classes_for(args.size, args.home)
    spg = load_spg("test", classes, per_class=args.size.pick(full=None, quick=20, smoke=5), home=args.home)
    held_out = load_qd345_spg("test", classes, home=args.home)
    figures: dict = {"quick": not args.size.is_full}
    console = Console()
    for key, name in MODELS.items():
        found, per_class = measure(name, key, spg, held_out, args, device)
        figures.update(found)
        worst = sorted(per_class, key=per_class.get)[:3]
        console.print(f"{name}: weakest classes " + ", ".join(f"{c} {per_class[c]:.2f}" for c in worst))
    names = list(classes) if classes is not None else spg_classes(args.home)
    figures.update(doodlenet_reference(spg, held_out, names, args, device))
    print_figures(
        figures, f"shipped stroke transformers on SPG test and held-out quickdraw-345x25 ({device})"
    )
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
