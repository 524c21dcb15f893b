"""Explaining image models on photos, in superpixels: the work behind ``strokelens explain`` and
``strokelens evaluate`` when the model takes photos (``input_kind == "image"``).

`explain_photos` writes ``explanations.jsonl`` (the records every explanation writes, plus the
overlay's file name, the crop box and a label-map PNG), one PNG overlay per photo on the original
photo and ``report.html``. `evaluate_photos` scores methods by deletion/insertion AUC over
superpixels, agreement with exact Shapley values (when every photo has at most
``max_shapley_units`` superpixels) and cost.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from strokelens.attribution import get_method
from strokelens.attribution.shapley import MAX_EXACT_UNITS
from strokelens.errors import StrokelensError
from strokelens.evaluation import MethodReport, figure_names
from strokelens.metrics import deletion_insertion
from strokelens.models import load_model
from strokelens.superpixels import ImageView, Photo, SuperpixelUnits, load_photos
from strokelens.viz.photos import explanation_overlay, write_photo_report

#: Figures `evaluate_photos` reports per method.
PHOTO_FIGURES = figure_names("image")


def file_targets(photos: Sequence[Photo], class_names: Sequence[str]) -> list[int]:
    """Class indices spelled by file names like ``n01440764_tench.JPEG`` (ImageNet samples), matched as
    `strokelens.models.darknet.match_imagenet_samples` does."""
    from strokelens.models.darknet import match_imagenet_samples

    out = []
    for p in photos:
        pairs = match_imagenet_samples([p.source], class_names)
        if not pairs:
            raise StrokelensError(f"{p.source}: the file name names no single class of this model")
        out.append(pairs[0][1])
    return out


def _target_for(target: Any, photos: Sequence[Photo], class_names: Sequence[str]) -> Any:
    if isinstance(target, str) and target.lstrip("-").isdigit():
        return int(target)
    if target == "file":
        return file_targets(photos, class_names)
    return target


def _image_model(model_name: str, home: Any, device: Any) -> torch.nn.Module:
    model = load_model(model_name, home=home, device=device)
    if getattr(model, "input_kind", None) != "image":
        raise StrokelensError(f"model {model_name!r} does not take photos (input_kind {model.input_kind!r})")
    return model


def _chunks(files: Sequence[Any], size: int):
    for start in range(0, len(files), size):
        yield load_photos(files[start : start + size])


def explain_photos(
    files: Sequence[str | os.PathLike[str]],
    model_name: str = "darknet-tiny",
    method: str = "gws",
    target: Any = "auto",
    segments: int = 50,
    out_dir: str | os.PathLike[str] = "explanations",
    seed: int = 0,
    home: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 8,
    *,
    score: str = "logit",
    compactness: float = 10.0,
    baseline: str = "mean",
    options: dict[str, Any] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Explain ``model_name``'s decision on every photo with ``method`` over ``segments`` SLIC
    superpixels; write ``explanations.jsonl``, ``NNNN.png`` overlays, ``NNNN.labels.png`` label maps
    (16-bit, superpixel + 1, 0 outside the model's crop) and ``report.html`` to ``out_dir``.

    ``target``: ``auto`` (the predicted class), a class name or index, or ``file`` (the class the
    file name spells, as in ImageNet sample names). Returns the records written.
    """
    if not files:
        raise StrokelensError("no photos given")
    method_cls = get_method(method)
    model = _image_model(model_name, home, device)
    view = ImageView(model, baseline=baseline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    explanations, curves, records = [], [], []
    for photos in _chunks(list(files), batch_size):
        units = SuperpixelUnits.from_photos(
            photos, size=model.input_size, n_segments=segments, compactness=compactness, device=view.device
        )
        tgt = _target_for(target, photos, view.class_names)
        expl = method_cls(view).attribute(units, target=tgt, seed=seed, score=score, **(options or {}))
        explanations.append(expl)
        curves.append(deletion_insertion(view.game(units, expl.target.to(view.device)), expl.scores))
        for i, record in enumerate(expl.records()):
            name = f"{len(records):04d}"
            explanation_overlay(expl, i, out / f"{name}.png")
            labels = units.original_labels(i) + 1
            Image.fromarray(labels.astype(np.uint16)).save(out / f"{name}.labels.png")
            record.update(
                image=f"{name}.png",
                label_map=f"{name}.labels.png",
                crop_box=list(units.transforms[i].box),
                score=score,
            )
            records.append(record)
        if on_batch is not None:
            on_batch(len(photos))
    with open(out / "explanations.jsonl", "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    write_photo_report(
        out / "report.html",
        {method: explanations},
        {method: curves},
        title=f"strokelens: {method} on {model_name}, {segments} superpixels",
    )
    return records


def evaluate_photos(
    files: Sequence[str | os.PathLike[str]],
    model_name: str = "darknet-tiny",
    methods: Sequence[str] = ("gws", "gws-ig", "occlusion", "lime", "kernelshap", "random"),
    target: Any = "auto",
    segments: int = 50,
    json_path: str | os.PathLike[str] | None = None,
    seed: int = 0,
    home: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
    limit: int | None = None,
    *,
    batch_size: int = 4,
    score: str = "logit",
    compactness: float = 10.0,
    baseline: str = "mean",
    max_shapley_units: int = 12,
    options: dict[str, dict[str, Any]] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Score ``methods`` on the photos (at most ``limit``): deletion/insertion AUC of the target
    probability over superpixels, rank agreement with exact Shapley values (photos with at most
    ``max_shapley_units`` superpixels, e.g. ``segments=12``; NaN otherwise), ms and model
    evaluations per photo. Returns ``{method: {figure: value}}`` (see `PHOTO_FIGURES`), also written
    to ``json_path`` when given."""
    files = list(files)[:limit] if limit else list(files)
    if not files:
        raise StrokelensError("no photos given")
    for name in methods:
        get_method(name)
    options = options or {}
    max_shapley_units = min(max_shapley_units, MAX_EXACT_UNITS)
    model = _image_model(model_name, home, device)
    view = ImageView(model, baseline=baseline)
    reports = {name: MethodReport() for name in methods}
    for photos in _chunks(files, batch_size):
        units = SuperpixelUnits.from_photos(
            photos, size=model.input_size, n_segments=segments, compactness=compactness, device=view.device
        )
        game = view.game(units, _target_for(target, photos, view.class_names), score)
        n = len(photos)
        reference = torch.full((n, units.max_units), float("nan"))
        if units.max_units <= max_shapley_units:
            ref = get_method("shapley")(view).attribute(units, target=game.target, score=score)
            reference = ref.scores
        for name in methods:
            expl = get_method(name)(view).attribute(
                units, target=game.target, seed=seed, score=score, **options.get(name, {})
            )
            curves = deletion_insertion(game, expl.scores)
            reports[name].measure(curves, expl.scores, reference, units.n_units.cpu(), expl, per="image")
        if on_batch is not None:
            on_batch(n)
    summary = {name: rep.summary() for name, rep in reports.items()}
    if json_path is not None:
        Path(json_path).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
