"""How accurate are the two pre-trained models as strokelens loads and feeds them?

- DoodleNet on ``quickdraw-345x25`` (344 classes x 25 simplified sketches), drawn through the
  differentiable QuickDraw preset (`strokelens.render.QuickDrawBitmap`) and, in the same run, through
  the plain PIL reference rendering of the same recipe (keys ``*_reference``), with the mean absolute
  pixel difference between the two renderings.
- DoodleNet on the SPG test split (20 classes x 100), through the preset: top-1/top-5 over all 345
  classes, and top-1 with the arg-max taken over the 20 SPG classes only.
- Tiny Darknet on the ``imagenet-samples`` photos whose names match a class name (994 of 1,000),
  centre-cropped and resized to 224.

    python benchmarks/model_accuracy.py --smoke   # or --quick; the full run:
    python benchmarks/model_accuracy.py --json benchmarks/results/model_accuracy.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _common import Size, benchmark_parser, print_figures, spg_classes_for, write_figures
from strokelens.datasets import batches, load_qd345, load_spg, qd345_classes, spg_classes
from strokelens.home import home_path
from strokelens.io.photos import match_imagenet_samples, open_image
from strokelens.models import load_model
from strokelens.models.darknet import preprocess
from strokelens.render import QuickDrawBitmap, quickdraw_bitmap_reference


def topk_hits(logits: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """Numbers of rows whose label is the arg-max, and among the 5 highest logits."""
    top = logits.topk(5, dim=1).indices
    return int((top[:, 0] == y).sum()), int((top == y[:, None]).any(1).sum())


def labels(model, sketches) -> torch.Tensor:
    index = {n: i for i, n in enumerate(model.class_names)}
    return torch.tensor([index[s.label] for s in sketches])


@torch.no_grad()
def preset_images(sketches, batch_size: int, device: torch.device) -> torch.Tensor:
    render = QuickDrawBitmap()
    return torch.cat([render(b) for b in batches(sketches, batch_size, device=device)])


@torch.no_grad()
def classify(model, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]).cpu()


def doodlenet_qd345(model, per_class: int | None, batch_size: int, device, home, classes=None) -> dict:
    sketches = load_qd345(classes, per_class=per_class, home=home)
    y = labels(model, sketches)
    start = time.perf_counter()
    x = preset_images(sketches, batch_size, device)
    t_preset = time.perf_counter() - start
    top1, top5 = topk_hits(classify(model, x, batch_size), y)
    start = time.perf_counter()
    ref = torch.from_numpy(np.stack([quickdraw_bitmap_reference(s) for s in sketches]))[:, None].to(device)
    t_ref = time.perf_counter() - start
    r1, r5 = topk_hits(classify(model, ref, batch_size), y)
    n = len(sketches)
    return {
        "doodlenet_qd345x25_top1": top1 / n,
        "doodlenet_qd345x25_top5": top5 / n,
        "doodlenet_qd345x25_top1_reference": r1 / n,
        "doodlenet_qd345x25_top5_reference": r5 / n,
        "doodlenet_qd345x25_preset_vs_reference_mean_abs_diff": float((x - ref).abs().mean()),
        "doodlenet_qd345x25_n": n,
        "qd345x25_preset_render_per_s": n / t_preset,
        "qd345x25_reference_render_per_s": n / t_ref,
    }


def doodlenet_spg(model, per_class: int | None, batch_size: int, device, home, classes=None) -> dict:
    sketches = load_spg("test", classes, per_class=per_class, home=home)
    y = labels(model, sketches)
    logits = classify(model, preset_images(sketches, batch_size, device), batch_size)
    top1, top5 = topk_hits(logits, y)
    spg = torch.tensor([model.class_names.index(c) for c in spg_classes(home)])
    top1_spg = int((spg[logits[:, spg].argmax(1)] == y).sum())
    n = len(sketches)
    return {
        "doodlenet_spg_test_top1": top1 / n,
        "doodlenet_spg_test_top5": top5 / n,
        "doodlenet_spg_test_top1_spg20": top1_spg / n,
        "doodlenet_spg_test_n": n,
    }


def darknet_samples(model, every: int, batch_size: int, device, home) -> dict:
    photos = sorted(home_path("data/imagenet-samples", home).glob("*.JPEG"))
    pairs = match_imagenet_samples(photos, model.class_names)
    n_matched = len(pairs)
    pairs = pairs[::every]
    y = torch.tensor([i for _, i in pairs])
    hits1 = hits5 = 0
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            x = torch.stack([preprocess(open_image(p)) for p, _ in pairs[i : i + batch_size]]).to(device)
            h1, h5 = topk_hits(model(x).cpu(), y[i : i + batch_size])
            hits1, hits5 = hits1 + h1, hits5 + h5
    n = len(pairs)
    return {
        "darknet_imagenet_samples_top1": hits1 / n,
        "darknet_imagenet_samples_top5": hits5 / n,
        "darknet_imagenet_samples_n": n,
        "darknet_imagenet_samples_matched": n_matched,
        "darknet_photos_per_s": n / (time.perf_counter() - start),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="subsets: 2 sketches a class, 1 photo in 20",
        smoke="20 QuickDraw classes x 1, 2 SPG classes x 2, 1 photo in 200",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    doodle = load_model("doodlenet", home=args.home, device=device)
    dark = load_model("darknet-tiny", home=args.home, device=device)
    start = time.perf_counter()
    n = args.size.pick
    out: dict[str, float | int | str] = {"quick": not args.size.is_full, "device": str(device)}
    qd_classes = qd345_classes(args.home)[::17] if args.size is Size.SMOKE else None
    qd_per_class = n(full=None, quick=2, smoke=1)
    out |= doodlenet_qd345(doodle, qd_per_class, args.batch_size, device, args.home, qd_classes)
    spg_per_class = n(full=None, quick=10, smoke=2)
    spg = spg_classes_for(args.size, args.home)
    out |= doodlenet_spg(doodle, spg_per_class, args.batch_size, device, args.home, spg)
    out |= darknet_samples(dark, n(full=1, quick=20, smoke=200), 64, device, args.home)
    out["wall_s"] = time.perf_counter() - start

    print_figures(out, "model accuracy" + ("" if args.size.is_full else f" (--{args.size.value})"))
    write_figures(args.json, out)


if __name__ == "__main__":
    main()
