"""One batch of photos through every superpixel method of `benchmarks/superpixels.py`: the timed
runs, agreement with lime_image and exact Shapley values, deletion/insertion curves. Kept apart from
the benchmark's choice and report so that each batch's figures can be kept on disk (``--resume``)."""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from strokelens.attribution.shapley import MAX_EXACT_UNITS, coalitions, shapley_from_values
from strokelens.datasets import photo_split
from strokelens.games import Game
from strokelens.io.photos import load_photos, match_imagenet_samples
from strokelens.methods import get_method
from strokelens.metrics import agreement, deletion_insertion
from strokelens.units import SuperpixelUnits, slic_labels
from strokelens.views import ImageView

#: Costly references, run on the first ``--reference-photos`` photos only.
REFERENCES = ("lime", "kernelshap")


def run(view: ImageView, units: SuperpixelUnits, target, entry: tuple[str, str, dict], seed: int):
    """One method on a batch -> (scores, seconds, evaluations per photo); methods with steps run on
    sub-batches of 2 photos, to bound memory."""
    method, score, opts = entry
    cls = get_method(method)
    groups = [list(range(len(units)))]
    if method != "gws" and (opts.get("steps") or opts.get("samples")):
        groups = [groups[0][i : i + 2] for i in range(0, len(units), 2)]
    scores = torch.zeros(len(units), units.max_units)
    seconds = evaluations = 0.0
    for rows in groups:
        sub = units.select(rows) if len(groups) > 1 else units
        expl = cls(view).attribute(sub, target=target[rows], seed=seed, score=score, **opts)
        scores[rows, : sub.max_units] = expl.scores.cpu()
        seconds += expl.seconds
        evaluations += expl.evaluations * len(rows)
    return scores, seconds, evaluations / len(units)


def warm_up(view: ImageView, paths: list[Path], device: torch.device) -> None:
    """One untimed forward and backward pass on a batch of the timed size (first calls at a batch size
    allocate and pick kernels; that cost fell on whichever method ran first)."""
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


#: Per-method figures a batch adds to: wall ms per photo, evaluations per photo, deletion and
#: insertion AUC, Spearman with lime_image and with exact Shapley (lists, one value a photo or batch).
PER_METHOD = ("ms", "evals", "dele", "ins", "vs_lime", "vs_shap")


def spread_test_photos(model, limit: int, home: str | None) -> list[tuple[Path, int]]:
    """``limit`` (path, class) pairs of the test split's photos whose file names name one of the
    model's classes, spread evenly over the classes (not the first N fish)."""
    pairs = match_imagenet_samples(photo_split("test", home), model.class_names)
    if limit < len(pairs):
        pairs = [pairs[i] for i in np.unique(np.linspace(0, len(pairs) - 1, limit).round().astype(int))]
    return pairs


def batch_game(view: ImageView, args: argparse.Namespace, chunk: list):
    """A batch's photos, their SLIC superpixel units and its target-probability game."""
    device = torch.device(args.device)
    photos = load_photos([p for p, _ in chunk])
    target = torch.tensor([c for _, c in chunk], device=device)
    units = SuperpixelUnits.from_photos(
        photos, size=view.model.input_size, n_segments=args.segments, device=device
    )
    return photos, units, view.game(units, target, "prob")


def measure_batch(
    view, args, table: dict, names: list[str], curve_now: set, chunk: list, b: int
) -> tuple[dict, Game]:
    """Every method on one batch of photos (``b``: its first photo's index): the `PER_METHOD` figures,
    LIME against LIME, superpixel counts, whether the model names the class, the 1-minute load average
    at its start, and the variants' scores whose curves wait for the choice (``deferred``); and the
    batch's target-probability game, for those curves (not kept on disk)."""
    out: dict = {key: defaultdict(list) for key in PER_METHOD}
    ms, evals, dele, ins, vs_lime, vs_shap = (out[key] for key in PER_METHOD)
    out["load_average"] = os.getloadavg()[0]
    model, device = view.model, torch.device(args.device)
    photos, units, prob_game = batch_game(view, args, chunk)
    target = prob_game.target
    k = units.n_units.cpu()
    out["n_units"] = k.tolist()
    out["correct"] = (prob_game.full_outputs.argmax(-1) == target).tolist()
    out["lime_vs_lime"], out["shap_units"] = [], []
    n_ref = max(0, min(args.reference_photos - b, len(chunk)))
    ref_rows = list(range(n_ref))
    ref_units = units.select(ref_rows) if n_ref else None
    scores = {}
    for name in names:
        if name in REFERENCES:
            if not n_ref:
                continue
            s, sec, ev = run(view, ref_units, target[:n_ref], table[name], args.seed)
            s = torch.cat([s, torch.full((len(chunk) - n_ref, s.shape[1]), float("nan"))])
            ms[name].append(1000 * sec / n_ref)
        else:
            s, sec, ev = run(view, units, target, table[name], args.seed)
            ms[name].append(1000 * sec / len(units))
        scores[name] = s
        evals[name].append(ev)
    reference = scores["lime_image"]
    if n_ref:
        second, _, _ = run(view, ref_units, target[:n_ref], table["lime_image"], args.seed + 1)
        out["lime_vs_lime"].extend(agreement(second, reference[:n_ref], k[:n_ref])["spearman"].tolist())
    ref_game = view.game(ref_units, target[:n_ref], "prob") if n_ref else None
    for name, s in scores.items():
        rows = ref_rows if name in REFERENCES else list(range(len(chunk)))
        if name != "lime_image":
            vs_lime[name].extend(agreement(s[rows], reference[rows], k[rows])["spearman"].tolist())
        if name in curve_now:
            curves = deletion_insertion(ref_game if name in REFERENCES else prob_game, s[rows])
            dele[name].extend(curves.deletion_auc.tolist())
            ins[name].extend(curves.insertion_auc.tolist())
    out["deferred"] = {n: s for n, s in scores.items() if n not in curve_now}
    # exact Shapley values on ~12-superpixel maps of the first photos
    todo = max(0, min(args.shapley_photos - b, len(chunk)))
    if todo:
        images = units.images[:todo].permute(0, 2, 3, 1).cpu().numpy()
        cap = min(args.shapley_segments, MAX_EXACT_UNITS)
        maps = [slic_near(img, cap, cap) for img in images]
        small = SuperpixelUnits.from_photos(photos[:todo], size=model.input_size, labels=maps, device=device)
        out["shap_units"].extend(small.n_units.tolist())
        exact = exact_shapley(view, small, target[:todo])
        ks = small.n_units.cpu()
        for name in names:
            if name in REFERENCES:
                continue
            s, _, _ = run(view, small, target[:todo], table[name], args.seed)
            ref = exact[table[name][1]].float()
            vs_shap[name].extend(agreement(s, ref, ks)["spearman"].tolist())
    for key in PER_METHOD:
        out[key] = dict(out[key])
    return out, prob_game
