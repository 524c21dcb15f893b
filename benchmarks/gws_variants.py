"""Gradient-weighted superpixel variants (Hartley et al.) against lime_image and exact Shapley values.

Tiny Darknet on the test split of the ImageNet sample photos whose file names name a class (the
target is that class), spread evenly over the classes; SLIC superpixels (50 by default) on the
224x224 centre crop, removed superpixels shown in their mean colour; the target probability (what
lime fits). Every pixel scoring technique x aggregation of ``gws`` (options ``pixel``/``aggregate``),
SWAG, ``gws-ig``/``gws-smoothgrad`` on presence and a random ranking score the same superpixels as
``lime_image`` with ``--lime-samples`` samples; lime_image under a second seed gives the ceiling.

Figures per variant: median Spearman vs lime_image per photo, median Spearman vs exact Shapley values
(target probability) at about 12 SLIC superpixels on the first ``--shapley-photos`` photos, model
evaluations and median wall ms per photo.

    python benchmarks/gws_variants.py --quick   # 2 photos, 20 superpixels, 100 LIME samples
    python benchmarks/gws_variants.py --json benchmarks/results/gws_variants.json   # the full run

Cost: lime_image at 1,000 samples under two seeds is ~2,000 evaluations a photo (~80 s on 2 shared CPU
cores) and each exact-Shapley photo 2^12, so the full run's default is 6 photos (2 with Shapley), about
10 minutes there; ``--limit 100`` is the issue's size (~2.5 hours on those cores).
"""

from __future__ import annotations

import argparse
import json
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
from strokelens.attribution import get_method
from strokelens.attribution.pixel_scores import AGGREGATES, PIXEL_SCORES
from strokelens.attribution.shapley import MAX_EXACT_UNITS
from strokelens.datasets import photo_split
from strokelens.io.photos import load_photos
from strokelens.metrics import agreement
from strokelens.models import load_model
from strokelens.models.darknet import match_imagenet_samples
from strokelens.units import SuperpixelUnits
from strokelens.views import ImageView
from superpixels import exact_shapley, slic_near

PAPER_AGGREGATES = tuple(a for a in AGGREGATES if a != "abs-mean")


def variants(steps: int) -> dict[str, tuple[str, dict]]:
    """Figure name -> (registered method, options)."""
    out: dict[str, tuple[str, dict]] = {}
    for pixel in PIXEL_SCORES:
        for how in PAPER_AGGREGATES:
            opts: dict = {"pixel": pixel, "aggregate": how}
            if pixel.startswith("ig-"):
                opts["steps"] = steps
            if pixel == "smoothgrad":
                opts["samples"] = steps
            out[f"gws_{pixel}_{how}".replace("-", "_")] = ("gws", opts)
    out["swag"] = ("swag", {})
    out["gws_ig_presence"] = ("gws-ig", {"steps": steps})
    out["gws_smoothgrad_presence"] = ("gws-smoothgrad", {"samples": steps})
    out["random"] = ("random", {})
    return out


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    p.add_argument("--json", type=Path, default=None, help="write the figures as one flat JSON object")
    p.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    p.add_argument("--limit", type=int, default=None, help="photos, spread over classes (6; quick: 2)")
    p.add_argument("--segments", type=int, default=None, help="SLIC n_segments (default 50; quick: 20)")
    p.add_argument("--lime-samples", type=int, default=None, help="default 1000 (quick: 100)")
    p.add_argument("--steps", type=int, default=4, help="integrated-gradient steps / SmoothGrad samples")
    p.add_argument("--shapley-photos", type=int, default=None, help="photos with exact Shapley (2; quick 1)")
    p.add_argument("--shapley-segments", type=int, default=None, help="default 12 (quick: 8)")
    p.add_argument("--batch-size", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    q = args.quick
    args.limit = args.limit or (2 if q else 6)
    args.segments = args.segments or (20 if q else 50)
    args.lime_samples = args.lime_samples or (100 if q else 1000)
    args.shapley_photos = args.shapley_photos if args.shapley_photos is not None else (1 if q else 2)
    args.shapley_segments = args.shapley_segments or (8 if q else 12)
    return args


def run(view: ImageView, units: SuperpixelUnits, target: torch.Tensor, method: str, opts: dict, seed: int):
    expl = get_method(method)(view).attribute(units, target=target, seed=seed, score="prob", **opts)
    return expl.scores, 1000 * expl.seconds / len(units), expl.evaluations


def main() -> None:
    args = parse_args()
    console = Console(width=120)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = load_model("darknet-tiny", home=args.home, device=device)
    view = ImageView(model, baseline="mean")
    pairs = match_imagenet_samples(photo_split("test", args.home), model.class_names)
    if args.limit < len(pairs):  # spread over the classes
        pairs = [pairs[i] for i in np.unique(np.linspace(0, len(pairs) - 1, args.limit).round().astype(int))]
    table_of = variants(args.steps)
    console.print(
        f"{len(pairs)} test photos, {args.segments} SLIC superpixels, mean-colour baseline, target prob; "
        f"lime_image {args.lime_samples} samples x 2 seeds; IG steps / SmoothGrad samples {args.steps}; "
        f"exact Shapley at <= {args.shapley_segments} superpixels on {min(args.shapley_photos, len(pairs))} "
        f"photos; device {device}, {torch.get_num_threads()} threads" + (" [--quick]" if args.quick else "")
    )
    ms, evals, vs_lime, vs_shap = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    lime_vs_lime, n_units, shap_units = [], [], []
    start = time.perf_counter()
    for b in range(0, len(pairs), args.batch_size):
        chunk = pairs[b : b + args.batch_size]
        photos = load_photos([p for p, _ in chunk])
        target = torch.tensor([c for _, c in chunk], device=device)
        units = SuperpixelUnits.from_photos(
            photos, size=model.input_size, n_segments=args.segments, device=device
        )
        k = units.n_units.cpu()
        n_units.extend(k.tolist())
        lime_opts = {"n_samples": args.lime_samples}
        ref, t, e = run(view, units, target, "lime-image", lime_opts, args.seed)
        ms["lime_image"].append(t)
        evals["lime_image"].append(e)
        second, _, _ = run(view, units, target, "lime-image", lime_opts, args.seed + 1)
        lime_vs_lime.extend(agreement(second, ref, k)["spearman"].tolist())
        for name, (method, opts) in table_of.items():
            s, t, e = run(view, units, target, method, opts, args.seed)
            ms[name].append(t)
            evals[name].append(e)
            vs_lime[name].extend(agreement(s, ref, k)["spearman"].tolist())
        todo = max(0, min(args.shapley_photos - b, len(chunk)))
        if todo:
            images = units.images[:todo].permute(0, 2, 3, 1).cpu().numpy()
            cap = min(args.shapley_segments, MAX_EXACT_UNITS)
            maps = [slic_near(img, cap, cap) for img in images]
            small = SuperpixelUnits.from_photos(
                photos[:todo], size=model.input_size, labels=maps, device=device
            )
            shap_units.extend(small.n_units.tolist())
            reference = exact_shapley(view, small, target[:todo])["prob"].float()
            ks = small.n_units.cpu()
            for name, (method, opts) in {"lime_image": ("lime-image", lime_opts), **table_of}.items():
                s, _, _ = run(view, small, target[:todo], method, opts, args.seed)
                vs_shap[name].extend(agreement(s, reference, ks)["spearman"].tolist())
        done = min(b + args.batch_size, len(pairs))
        console.print(f"  {done}/{len(pairs)} photos, {time.perf_counter() - start:.0f} s", highlight=False)

    def med(values) -> float:
        arr = np.asarray(values, dtype=float)
        arr = arr[~np.isnan(arr)]
        return float(np.median(arr)) if len(arr) else float("nan")

    figures: dict[str, float | int | bool | str] = {
        "n_photos": len(pairs),
        "superpixels_mean": float(np.mean(n_units)),
        "lime_samples": args.lime_samples,
        "steps": args.steps,
        "shapley_photos": len(shap_units),
        "shapley_superpixels_mean": float(np.mean(shap_units)) if shap_units else float("nan"),
        "lime_vs_lime_spearman": med(lime_vs_lime),
        "lime_image_ms_per_image": statistics.median(ms["lime_image"]),
        "lime_image_evaluations_per_image": float(np.mean(evals["lime_image"])),
        "lime_image_spearman_vs_shapley12": med(vs_shap["lime_image"]),
        "quick": bool(args.quick),
    }
    for name in table_of:
        figures[f"{name}_ms_per_image"] = statistics.median(ms[name])
        figures[f"{name}_evaluations_per_image"] = float(np.mean(evals[name]))
        figures[f"{name}_spearman_vs_lime_image"] = med(vs_lime[name])
        figures[f"{name}_spearman_vs_shapley12"] = med(vs_shap[name])
    cheap = [n for n in table_of if n != "random" and figures[f"{n}_evaluations_per_image"] <= 4]
    best = max(cheap, key=lambda n: np.nan_to_num(figures[f"{n}_spearman_vs_lime_image"], nan=-2))
    figures["best_cheap_variant"] = best
    figures["best_cheap_spearman_vs_lime_image"] = figures[f"{best}_spearman_vs_lime_image"]
    figures["best_cheap_spearman_vs_shapley12"] = figures[f"{best}_spearman_vs_shapley12"]
    figures["best_cheap_speedup_vs_lime_image"] = (
        figures["lime_image_ms_per_image"] / figures[f"{best}_ms_per_image"]
    )
    figures["gws_default_spearman_vs_lime_image"] = figures["gws_presence_sum_spearman_vs_lime_image"]

    table = Table(
        "variant",
        "evals / photo",
        "ms / photo",
        "Spearman vs lime_image ↑",
        f"Spearman vs Shapley{args.shapley_segments} ↑",
        title=f"{len(pairs)} photos, Tiny Darknet, ~{figures['superpixels_mean']:.0f} superpixels; "
        f"lime_image "
        f"{figures['lime_image_ms_per_image']:.0f} ms / photo, LIME vs LIME (2nd seed) Spearman "
        f"{figures['lime_vs_lime_spearman']:.3f}, lime_image vs Shapley "
        f"{figures['lime_image_spearman_vs_shapley12']:.3f}",
    )
    order = sorted(table_of, key=lambda n: -np.nan_to_num(figures[f"{n}_spearman_vs_lime_image"], nan=-2))
    for name in order:
        table.add_row(
            name,
            f"{figures[f'{name}_evaluations_per_image']:.0f}",
            f"{figures[f'{name}_ms_per_image']:.1f}",
            f"{figures[f'{name}_spearman_vs_lime_image']:.3f}",
            f"{figures[f'{name}_spearman_vs_shapley12']:.3f}",
        )
    console.print(table)
    console.print(f"best at <= 4 evaluations: {best}; total {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
