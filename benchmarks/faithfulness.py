"""How faithful and how cheap is each stroke-level explanation of DoodleNet on real SPG sketches?

Every method explains the predicted class of SPG test sketches. Figures per method: deletion and
insertion AUC (target probability as units are removed/added in attribution order), Spearman
agreement with exact Shapley values (median over sketches with at most --max-shapley-units strokes),
wall ms and model evaluations per sketch. The external reference, the `lime` package's
``LimeImageExplainer`` (strokes' pixel footprints as its segmentation, num_samples=1000), runs on the
same sketches in the same run.

Perturbation references (lime, kernelshap, lime_image) cost about a second per sketch, so they run on
the first --ref-n sketches; every method is also reported on that same subset (keys ``*_ref``).

The default sketch method (`strokelens.defaults`, chosen from the committed results) runs on the same
sketches in the same run (keys ``default_sketch_*``), against the issue's targets: deletion AUC
below the stroke-length baseline's and Spearman vs exact Shapley >= 0.8.

    python benchmarks/faithfulness.py --smoke   # or --quick; the full run:
    python benchmarks/faithfulness.py --json benchmarks/results/faithfulness.json
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from _common import Size, benchmark_parser, spg_classes_for, write_figures
from strokelens.attribution.shapley import MAX_EXACT_UNITS
from strokelens.datasets import load_spg, spg_classes
from strokelens.defaults import default_method
from strokelens.evaluation import evaluate
from strokelens.methods import get_method
from strokelens.metrics import agreement, deletion_insertion
from strokelens.models import load_model
from strokelens.sketch import SketchBatch
from strokelens.units import make_units
from strokelens.views import RasterSketchView, preprocess

CHEAP_METHODS = ["sla", "ig", "smoothgrad", "occlusion", "random", "length", "order"]
REFERENCE_METHODS = ["lime", "kernelshap"]
CHEAP_EVALUATIONS = 32
#: The default method for DoodleNet's sketches, and what it must reach (issue 15).
DEFAULT_METHOD = default_method("doodlenet", "sketch")
DEFAULT_MIN_SPEARMAN = 0.8


def lime_image_scores(view: RasterSketchView, sketches, seed: int = 0, num_samples: int = 1000):
    """Run lime's LimeImageExplainer on the rendered sketches with stroke footprints as segments.

    Returns units, game, scores ``(B, K)``, wall seconds per sketch and model evaluations per sketch
    (images lime's classifier was asked to score, counted as they pass).
    """
    from lime import lime_image

    device = next(view.model.parameters()).device
    batch = SketchBatch.from_sketches(sketches, device=device)
    units = make_units(batch, "stroke")
    game = view.game(units, "auto")
    images = view.images(units)[:, 0].cpu().numpy().astype(np.float64)
    segments = view.footprints(units).cpu().numpy()
    scores = torch.zeros(len(sketches), units.max_units)
    evaluations = 0

    def classifier(rgb: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        evaluations += len(rgb)
        x = torch.as_tensor(rgb[..., :1], dtype=torch.float32, device=device).permute(0, 3, 1, 2)
        with torch.no_grad():
            return view.model(x).softmax(-1).cpu().numpy()

    start = time.perf_counter()
    for i in range(len(sketches)):
        explainer = lime_image.LimeImageExplainer(random_state=seed)
        rgb = np.repeat(images[i][..., None], 3, axis=-1)
        target = int(game.target[i])
        explanation = explainer.explain_instance(
            rgb,
            classifier,
            labels=(target,),
            top_labels=None,
            hide_color=0,
            num_samples=num_samples,
            batch_size=num_samples,
            segmentation_fn=lambda _img, i=i: segments[i],
            random_seed=seed,
        )
        for seg, weight in explanation.local_exp[target]:
            if seg > 0:
                scores[i, seg - 1] = weight
    seconds = (time.perf_counter() - start) / len(sketches)
    return units, game, scores, seconds, evaluations / len(sketches)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="100 sketches, references on 10, Shapley up to 8 strokes",
        smoke="4 sketches of 2 classes, references (lime at 50 samples) on 2, Shapley up to 5 strokes",
    )
    # The full run's defaults fit about 10 minutes on 2 CPU cores (exact Shapley dominates: 2^K).
    parser.add_argument("--n", type=int, default=500, help="SPG test sketches (spread over the 20 classes)")
    parser.add_argument("--ref-n", type=int, default=50, help="sketches for lime/kernelshap/lime_image")
    parser.add_argument("--max-shapley-units", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--home", default=None)
    args = parser.parse_args(argv)
    n = args.size.pick
    args.n = n(full=args.n, quick=100, smoke=4)
    args.ref_n = n(full=args.ref_n, quick=10, smoke=2)
    args.max_shapley_units = n(full=args.max_shapley_units, quick=8, smoke=5)
    args.lime_samples = n(full=1000, quick=1000, smoke=50)
    return args


def main() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # lime_image draws a progress bar per sketch
    args = parse_args()
    torch.manual_seed(0)

    model = load_model("doodlenet", home=args.home)
    view = RasterSketchView(model)
    classes = spg_classes_for(args.size, args.home) or spg_classes(args.home)
    per_class = -(-args.n // len(classes))
    sketches = preprocess(load_spg("test", classes, per_class=per_class, home=args.home), model)
    # Interleave classes so any prefix (the reference subset) spans them all.
    order = sorted(range(len(sketches)), key=lambda i: (i % per_class, i))
    sketches = [sketches[i] for i in order][: args.n]
    ref = sketches[: args.ref_n]
    max_units = min(args.max_shapley_units, MAX_EXACT_UNITS)

    t0 = time.perf_counter()
    methods = [*CHEAP_METHODS, *([DEFAULT_METHOD] if DEFAULT_METHOD not in CHEAP_METHODS else []), "shapley"]
    everything = evaluate(view, sketches, methods, batch_size=args.batch_size, max_reference_units=max_units)
    # The references' own sample counts stay (1,000 for lime_image, each method's default for lime and
    # kernelshap) but in a smoke run.
    small_refs = (
        {}
        if args.size is not Size.SMOKE
        else {m: {"n_samples": args.lime_samples} for m in REFERENCE_METHODS}
    )
    on_ref = evaluate(
        view,
        ref,
        REFERENCE_METHODS,
        batch_size=args.batch_size,
        max_reference_units=max_units,
        options=small_refs,
    )
    units, game, li_scores, li_seconds, li_evaluations = lime_image_scores(
        view, ref, num_samples=args.lime_samples
    )
    # SLA timed again on the same sketches as lime_image (the reference subset, in --batch-size
    # batches) right after it, so the speed-up compares like with like under the same machine load.
    sla_adjacent = sum(
        get_method("sla")(view).attribute(ref[i : i + args.batch_size]).seconds
        for i in range(0, len(ref), args.batch_size)
    ) / len(ref)
    li_curves = deletion_insertion(game, li_scores)
    small = (units.n_units <= max_units).nonzero()[:, 0]
    sub_units = make_units(SketchBatch.from_sketches([ref[i] for i in small.tolist()]), "stroke")
    shapley_small = get_method("shapley")(view).attribute(sub_units).scores
    li_agree = agreement(li_scores[small][:, : sub_units.max_units], shapley_small, sub_units.n_units)

    out: dict[str, float | str | bool] = {
        "quick": not args.size.is_full,
        "n_sketches": len(sketches),
        "n_reference_sketches": len(ref),
        "max_shapley_units": max_units,
        # sketches with an exact Shapley reference (at most max_shapley_units strokes)
        "shapley_sketches": int(np.isfinite(everything["sla"].values["spearman_vs_shapley"]).sum()),
    }
    keys = ("deletion_auc", "insertion_auc", "spearman_vs_shapley", "ms_per_sketch", "evaluations_per_sketch")
    for name, rep in everything.items():
        s = rep.summary()
        for key in (*keys, "top1_vs_shapley", "top3_vs_shapley"):
            out[f"{name}_{key}"] = s[key]
        if name != "shapley":  # the same figures on the reference subset (the first --ref-n sketches)
            s_ref = rep.summary(limit=len(ref))
            for key in keys:
                out[f"{name}_{key}_ref"] = s_ref[key]
    for name, rep in on_ref.items():
        s = rep.summary()
        for key in keys:
            out[f"{name}_{key}"] = s[key]
    out["lime_image_ms_per_sketch"] = 1000 * li_seconds
    out["lime_image_deletion_auc"] = float(li_curves.deletion_auc.mean())
    out["lime_image_insertion_auc"] = float(li_curves.insertion_auc.mean())
    out["lime_image_spearman_vs_shapley"] = float(np.nanmedian(li_agree["spearman"]))
    out["lime_image_evaluations_per_sketch"] = li_evaluations
    out["sla_ms_per_sketch_beside_lime_image"] = 1000 * sla_adjacent
    out["sla_speedup_vs_lime_image"] = li_seconds / sla_adjacent
    cheap = [
        m
        for m in CHEAP_METHODS
        if m not in ("random", "length", "order") and out[f"{m}_evaluations_per_sketch"] <= CHEAP_EVALUATIONS
    ]
    best = max(cheap, key=lambda m: out[f"{m}_spearman_vs_shapley"])
    out["best_cheap_method"] = best
    out["best_cheap_spearman_vs_shapley"] = out[f"{best}_spearman_vs_shapley"]
    out["best_cheap_deletion_auc_ref"] = out[f"{best}_deletion_auc_ref"]
    out["default_sketch_method"] = DEFAULT_METHOD
    for key in ("deletion_auc", "spearman_vs_shapley", "evaluations_per_sketch"):
        out[f"default_sketch_{key}"] = out[f"{DEFAULT_METHOD}_{key}"]
    out["target_default_sketch_deletion_auc_below_length_met"] = bool(
        out["default_sketch_deletion_auc"] < out["length_deletion_auc"]
    )
    out["target_default_sketch_spearman_vs_shapley_met"] = bool(
        out["default_sketch_spearman_vs_shapley"] >= DEFAULT_MIN_SPEARMAN
    )
    out["wall_seconds"] = time.perf_counter() - t0

    table = Table(title=f"DoodleNet on SPG test sketches (references on the first {len(ref)})")
    for col in (
        "method",
        "sketches",
        "deletion AUC ↓",
        "insertion AUC ↑",
        "Spearman vs Shapley ↑",
        "ms / sketch",
        "evaluations / sketch",
    ):
        table.add_column(col)
    rows = [(m, "", len(sketches)) for m in methods]
    rows += [(m, "_ref", len(ref)) for m in CHEAP_METHODS[:4]]
    rows += [(m, "", len(ref)) for m in [*REFERENCE_METHODS, "lime_image"]]
    for name, sfx, n in rows:
        table.add_row(
            name,
            str(n),
            *(f"{out.get(f'{name}_{key}{sfx}', float('nan')):.3f}" for key in keys[:3]),
            f"{out[f'{name}_ms_per_sketch{sfx}']:.2f}",
            f"{out[f'{name}_evaluations_per_sketch{sfx}']:.0f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"SLA speed-up vs lime_image: {out['sla_speedup_vs_lime_image']:.0f}x; best cheap method "
        f"{best}: Spearman {out['best_cheap_spearman_vs_shapley']:.3f}"
    )
    met = {True: "met", False: "NOT MET"}
    console.print(
        f"default sketch method {DEFAULT_METHOD}: deletion AUC {out['default_sketch_deletion_auc']:.4f} vs "
        f"stroke length {out['length_deletion_auc']:.4f} "
        f"({met[out['target_default_sketch_deletion_auc_below_length_met']]}); Spearman vs Shapley "
        f"{out['default_sketch_spearman_vs_shapley']:.3f} >= {DEFAULT_MIN_SPEARMAN} "
        f"({met[out['target_default_sketch_spearman_vs_shapley_met']]})"
    )
    write_figures(args.json, out)


if __name__ == "__main__":
    main()
