"""Gradient-weighted superpixels against LIME on real photos: cost, agreement and faithfulness.

Tiny Darknet on the ImageNet sample photos whose file names name a class (the target is that
class), SLIC superpixels (50 by default) on the 224x224 centre crop, removed superpixels shown in
their mean colour (lime_image's ``hide_color=None``). Every method scores the same superpixels:

- gws (gradient at z = 1; under the target probability, as lime fits, and under the logit),
  gws-ig and gws-smoothgrad;
- occlusion, Captum Lime and Kernel SHAP on the same binary presence;
- ``lime_image.LimeImageExplainer`` with the same label map as ``segmentation_fn``, under two seeds
  (the second gives the LIME-vs-LIME noise ceiling).

Figures: median wall ms per photo, model evaluations per photo, median Spearman agreement with
lime_image's weights, deletion/insertion AUC of the target probability over superpixels (mean),
and median Spearman agreement with exact Shapley values at about 12 SLIC superpixels (2^K
evaluations a photo, on the first ``--shapley-photos`` photos).

    python benchmarks/superpixels.py --quick   # 2 photos, 20 superpixels, 50 LIME samples: a smoke run
    python benchmarks/superpixels.py --json benchmarks/results/superpixels.json   # the full run

The full run's defaults (4 photos, exact Shapley on 2) fit about 10 minutes on 2 CPU cores, where
Tiny Darknet scores some 20-50 perturbed photos a second: every photo costs about 4,000 evaluations
(LIME, Kernel SHAP, lime_image under two seeds) and each exact-Shapley photo 2^12 more (8 photos and 4
took over 15 minutes and did not finish). ``--limit`` and ``--shapley-photos`` make it larger.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from strokelens.attribution import get_method
from strokelens.attribution.shapley import MAX_EXACT_UNITS, coalitions, shapley_from_values
from strokelens.home import home_path
from strokelens.io.photos import load_photos
from strokelens.metrics import agreement, deletion_insertion
from strokelens.models import load_model
from strokelens.models.darknet import match_imagenet_samples
from strokelens.units import SuperpixelUnits, slic_labels
from strokelens.views import ImageView

#: name -> (registered method, score, options); the options that depend on --quick are filled in main.
METHODS = {
    "gws": ("gws", "prob", {}),
    "gws_logit": ("gws", "logit", {}),
    "gws_ig": ("gws-ig", "prob", {"steps": None}),
    "gws_smoothgrad": ("gws-smoothgrad", "prob", {"samples": None}),
    "occlusion": ("occlusion", "prob", {}),
    "lime": ("lime", "prob", {"n_samples": None}),
    "kernelshap": ("kernelshap", "prob", {"n_samples": None}),
    "lime_image": ("lime-image", "prob", {"n_samples": None}),
}
GRADIENT = {"gws", "gws_logit", "gws_ig", "gws_smoothgrad"}
#: Methods scored on the 12-superpixel games against exact Shapley values.
SHAPLEY_METHODS = ("gws", "gws_logit", "gws_ig", "gws_smoothgrad", "occlusion", "lime_image")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run of about a minute (settings printed)")
    p.add_argument("--json", type=Path, default=None, help="write the figures as one flat JSON object")
    p.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="N photos spread evenly over the classes (default 4; quick: 2)",
    )
    p.add_argument("--segments", type=int, default=None, help="SLIC n_segments (default 50; quick: 20)")
    p.add_argument("--lime-samples", type=int, default=None, help="default 1000 (quick: 50)")
    p.add_argument("--grad-steps", type=int, default=None, help="gws-ig steps / smoothgrad samples (16)")
    p.add_argument("--shapley-photos", type=int, default=None, help="photos with exact Shapley (default 2)")
    p.add_argument("--shapley-segments", type=int, default=None, help="default 12 (quick: 8)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of the methods")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    quick = args.quick
    args.limit = args.limit or (2 if quick else 4)
    args.segments = args.segments or (20 if quick else 50)
    args.lime_samples = args.lime_samples or (50 if quick else 1000)
    args.grad_steps = args.grad_steps or (4 if quick else 16)
    args.shapley_photos = args.shapley_photos if args.shapley_photos is not None else (1 if quick else 2)
    args.shapley_segments = args.shapley_segments or (8 if quick else 12)
    return args


def method_options(name: str, args: argparse.Namespace) -> tuple[str, str, dict]:
    method, score, opts = METHODS[name]
    filled = {}
    for key in opts:
        filled[key] = args.lime_samples if key == "n_samples" else args.grad_steps
    return method, score, filled


def run(view: ImageView, units: SuperpixelUnits, target, name: str, args, seed: int):
    """One method on a batch (gradient variants with steps in sub-batches of 2 photos, to bound memory)."""
    method, score, opts = method_options(name, args)
    cls = get_method(method)
    groups = [list(range(len(units)))]
    if opts.get("steps") or opts.get("samples"):
        groups = [groups[0][i : i + 2] for i in range(0, len(units), 2)]
    scores = torch.zeros(len(units), units.max_units)
    seconds = evaluations = 0.0
    for rows in groups:
        sub = units.select(rows) if len(groups) > 1 else units
        expl = cls(view).attribute(sub, target=target[rows], seed=seed, score=score, **opts)
        scores[rows, : sub.max_units] = expl.scores
        seconds += expl.seconds
        evaluations += expl.evaluations * len(rows)
    return scores, seconds, evaluations / len(units)


def warm_up(view: ImageView, paths: list[Path], device: torch.device) -> None:
    """One untimed forward and backward pass on a batch of the timed size (first calls at a batch size
    allocate and pick kernels; that cost fell on whichever method ran first, gws)."""
    units = SuperpixelUnits.from_photos(
        load_photos(paths), size=view.input_size, n_segments=10, device=device
    )
    get_method("gws")(view).attribute(units)


def slic_near(image: np.ndarray, n_units: int, max_units: int) -> np.ndarray:
    """SLIC labels with as close to ``n_units`` superpixels as SLIC gives, never more than ``max_units``.

    SLIC returns fewer segments than asked for (``n_segments=12`` gives about 5 on these photos), so
    the request grows from ``n_units`` until the count reaches it or would pass ``max_units``."""
    best, best_k = np.zeros(image.shape[:2], dtype=np.int64), 1
    for n in range(n_units, 4 * n_units + 1):
        labels = slic_labels(image, n)
        k = len(np.unique(labels))
        if k > max_units:
            break
        if abs(k - n_units) < abs(best_k - n_units):
            best, best_k = labels, k
        if k >= n_units:
            break
    return best


def exact_shapley(view: ImageView, units: SuperpixelUnits, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Exact Shapley values of every photo under the target probability and logit, from one pass
    over all ``2^K`` coalitions (shared helpers of the ``shapley`` method)."""
    game = view.game(units, target, "logit")
    out = {s: torch.zeros(len(units), units.max_units, dtype=torch.float64) for s in ("prob", "logit")}
    for i in range(len(units)):
        k = int(units.n_units[i])
        z = torch.ones(2**k, units.max_units, device=game.device)
        z[:, :k] = coalitions(k, game.device)
        rows = torch.full((len(z),), i, device=game.device)
        with torch.no_grad():
            logits = torch.cat(
                [game.outputs(z[j : j + 256], rows[j : j + 256]) for j in range(0, len(z), 256)]
            )
        t = int(game.target[i])
        values = {"logit": logits[:, t], "prob": logits.softmax(-1)[:, t]}
        for s, v in values.items():
            out[s][i, :k] = shapley_from_values(v[None].double().cpu(), k)[0]
    return out


def main() -> None:
    args = parse_args()
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(names) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods: {', '.join(sorted(unknown))}")
    console = Console()
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = load_model("darknet-tiny", home=args.home, device=device)
    view = ImageView(model, baseline="mean")
    folder = home_path("data/imagenet-samples", args.home)
    pairs = match_imagenet_samples(sorted(folder.glob("*.JPEG")), model.class_names)
    if args.limit and args.limit < len(pairs):  # spread over the classes, not the first N fish
        pairs = [pairs[i] for i in np.unique(np.linspace(0, len(pairs) - 1, args.limit).round().astype(int))]
    warm_up(view, [p for p, _ in pairs[: args.batch_size]], device)
    console.print(
        f"{len(pairs)} photos, {args.segments} SLIC superpixels, mean-colour baseline; lime/kernelshap/"
        f"lime_image samples {args.lime_samples}; gws-ig steps / smoothgrad samples {args.grad_steps}; "
        f"exact Shapley at <= {args.shapley_segments} superpixels on {min(args.shapley_photos, len(pairs))} "
        f"photos; device {device}, {torch.get_num_threads()} threads" + (" [--quick]" if args.quick else "")
    )
    ms = defaultdict(list)  # per batch: ms per photo
    evals = defaultdict(list)
    dele, ins, vs_lime, vs_shap = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    lime_vs_lime, n_units, shap_units, correct = [], [], [], []
    start = time.perf_counter()
    for b in range(0, len(pairs), args.batch_size):
        chunk = pairs[b : b + args.batch_size]
        photos = load_photos([p for p, _ in chunk])
        target = torch.tensor([c for _, c in chunk], device=device)
        units = SuperpixelUnits.from_photos(
            photos, size=model.input_size, n_segments=args.segments, device=device
        )
        n_units.extend(units.n_units.tolist())
        prob_game = view.game(units, target, "prob")
        correct.extend((prob_game.full_outputs.argmax(-1) == target).tolist())
        scores = {}
        for name in names:
            s, sec, ev = run(view, units, target, name, args, args.seed)
            scores[name] = s
            ms[name].append(1000 * sec / len(units))
            evals[name].append(ev)
            curves = deletion_insertion(prob_game, s)
            dele[name].extend(curves.deletion_auc.tolist())
            ins[name].extend(curves.insertion_auc.tolist())
        if "lime_image" in scores:
            ref = scores["lime_image"]
            second, _, _ = run(view, units, target, "lime_image", args, args.seed + 1)
            lime_vs_lime.extend(agreement(second, ref, units.n_units.cpu())["spearman"].tolist())
            for name, s in scores.items():
                if name != "lime_image":
                    vs_lime[name].extend(agreement(s, ref, units.n_units.cpu())["spearman"].tolist())
        # exact Shapley values on ~12-superpixel maps of the first photos
        todo = max(0, min(args.shapley_photos - b, len(chunk)))
        if todo:
            sub = photos[:todo]
            images = units.images[:todo].permute(0, 2, 3, 1).cpu().numpy()
            cap = min(args.shapley_segments, MAX_EXACT_UNITS)
            maps = [slic_near(img, cap, cap) for img in images]
            small = SuperpixelUnits.from_photos(sub, size=model.input_size, labels=maps, device=device)
            shap_units.extend(small.n_units.tolist())
            reference = exact_shapley(view, small, target[:todo])
            for name in SHAPLEY_METHODS:
                if name not in names:
                    continue
                s, _, _ = run(view, small, target[:todo], name, args, args.seed)
                ref = reference[METHODS[name][1]].float()
                vs_shap[name].extend(agreement(s, ref, small.n_units.cpu())["spearman"].tolist())
        done = min(b + args.batch_size, len(pairs))
        console.print(f"  {done}/{len(pairs)} photos, {time.perf_counter() - start:.0f} s", highlight=False)

    def med(values) -> float:
        arr = np.asarray(values, dtype=float)
        arr = arr[~np.isnan(arr)]
        return float(np.median(arr)) if len(arr) else float("nan")

    figures: dict[str, float] = {
        "n_photos": len(pairs),
        "superpixels_mean": float(np.mean(n_units)),
        "lime_samples": args.lime_samples,
        "grad_steps": args.grad_steps,
        "top1_accuracy": float(np.mean(correct)),
        "shapley_photos": len(shap_units),
        "shapley_superpixels_mean": float(np.mean(shap_units)) if shap_units else float("nan"),
        "lime_vs_lime_spearman": med(lime_vs_lime),
        "quick": bool(args.quick),
    }
    lime_ms = statistics.median(ms["lime_image"]) if "lime_image" in ms else float("nan")
    for name in names:
        figures[f"{name}_ms_per_image"] = statistics.median(ms[name])
        figures[f"{name}_evaluations_per_image"] = float(np.mean(evals[name]))
        figures[f"{name}_speedup_vs_lime_image"] = lime_ms / statistics.median(ms[name])
        figures[f"{name}_deletion_auc"] = float(np.mean(dele[name]))
        figures[f"{name}_insertion_auc"] = float(np.mean(ins[name]))
        if name != "lime_image":
            figures[f"{name}_spearman_vs_lime_image"] = med(vs_lime[name])
        if name in vs_shap:
            figures[f"{name}_spearman_vs_shapley12"] = med(vs_shap[name])

    table = Table(
        "method",
        "ms / photo",
        "evals / photo",
        "speedup vs lime_image",
        "Spearman vs lime_image ↑",
        f"Spearman vs Shapley{args.shapley_segments} ↑",
        "deletion AUC ↓",
        "insertion AUC ↑",
        title=f"{len(pairs)} photos, Tiny Darknet, ~{figures['superpixels_mean']:.0f} superpixels "
        f"(top-1 {figures['top1_accuracy']:.0%}); LIME vs LIME (2nd seed) Spearman "
        f"{figures['lime_vs_lime_spearman']:.3f}",
    )
    for name in names:
        table.add_row(
            name,
            f"{figures[f'{name}_ms_per_image']:.1f}",
            f"{figures[f'{name}_evaluations_per_image']:.0f}",
            f"{figures[f'{name}_speedup_vs_lime_image']:.1f}",
            f"{figures.get(f'{name}_spearman_vs_lime_image', float('nan')):.3f}",
            f"{figures.get(f'{name}_spearman_vs_shapley12', float('nan')):.3f}",
            f"{figures[f'{name}_deletion_auc']:.3f}",
            f"{figures[f'{name}_insertion_auc']:.3f}",
        )
    console.print(table)
    console.print(f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
