"""Accuracy of a model on labelled drawings or photos, and the inputs exactly as the model receives
them: the first check that a model file is fed the way it was trained.

Labels match class names by normalised name (lower case, ``_``/``-`` as spaces, no apostrophes; see
`strokelens.io.photos.normalise_name`), so ``ice_cream`` meets ``ice cream``. Photos take their label
from an ImageNet-sample file name (``n01440764_tench.JPEG``). Top-1 below `near_chance_threshold`
(the larger of 3x chance and 5%, capped halfway from chance to 100%) counts as near chance.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from strokelens import kinds
from strokelens.io.photos import normalise_name
from strokelens.kinds import InputKind
from strokelens.sketch import Sketch, SketchBatch

__all__ = [
    "Accuracy",
    "CheckResult",
    "accuracy",
    "check_model",
    "class_targets",
    "input_label",
    "model_inputs",
    "near_chance_threshold",
]

#: Inputs per forward pass.
BATCH = 256
#: Top-1 below this many times chance is near chance (but never below `MIN_WARN`).
CHANCE_FACTOR = 3.0
MIN_WARN = 0.05
_SAMPLE_NAME = re.compile(r"n\d{8}_(.+)")


def near_chance_threshold(n_classes: int) -> float:
    """Top-1 below which a model reads inputs no better than about chance: ``max(3 / n, 5%)``, capped
    at ``(1 + 1/n) / 2`` so that a two-class model can pass."""
    chance = 1.0 / max(n_classes, 1)
    return min(max(CHANCE_FACTOR * chance, MIN_WARN), (1.0 + chance) / 2)


def input_label(item: Sketch | Path) -> str | None:
    """The label of a drawing (its ``word``), or the class an ImageNet-sample photo name spells."""
    if isinstance(item, Sketch):
        return item.label
    match = _SAMPLE_NAME.fullmatch(Path(item).stem)
    return match.group(1) if match else None


def class_targets(labels: Sequence[str | None], class_names: Sequence[str]) -> torch.Tensor:
    """``(N,)`` class index of each label by normalised name; -1 for none (or an ambiguous name)."""
    norm = [normalise_name(c) for c in class_names]
    counts = Counter(norm)
    index = {n: i for i, n in enumerate(norm) if counts[n] == 1}
    return torch.tensor([-1 if lab is None else index.get(normalise_name(lab), -1) for lab in labels])


@dataclass(frozen=True)
class Accuracy:
    """Top-1/top-5 of a model over the inputs whose label names one of its classes."""

    items: int
    matched: int
    unlabelled: int
    unmatched_labels: tuple[str, ...]
    top1: float | None
    top5: float | None
    n_classes: int

    @property
    def chance(self) -> float:
        return 1.0 / max(self.n_classes, 1)

    @property
    def threshold(self) -> float:
        return near_chance_threshold(self.n_classes)

    @property
    def near_chance(self) -> bool:
        """True when top-1 is measured and below `threshold`."""
        return self.top1 is not None and self.top1 < self.threshold

    def summary(self, noun: str = "drawings") -> str:
        """``top-1 68.5%, top-5 89.0% over 200 of 200 drawings whose label names a class``."""
        over = f"over {self.matched} of {self.items} {noun} whose label names a class"
        if self.top1 is None:
            return f"no accuracy: none of the {self.items} {noun} has a label that names a class"
        return f"top-1 {self.top1:.1%}, top-5 {self.top5:.1%} {over} (chance {self.chance:.1%})"

    def as_dict(self) -> dict[str, object]:
        return {
            "items": self.items,
            "matched": self.matched,
            "unlabelled": self.unlabelled,
            "unmatched_labels": list(self.unmatched_labels),
            "top1": self.top1,
            "top5": self.top5,
            "chance": self.chance,
            "near_chance_below": self.threshold,
            "near_chance": self.near_chance,
        }


def accuracy(logits: torch.Tensor, labels: Sequence[str | None], class_names: Sequence[str]) -> Accuracy:
    """Top-1/top-5 of ``logits`` ``(N, C)`` against ``labels`` matched to ``class_names``."""
    target = class_targets(labels, class_names)
    ok = target >= 0
    unmatched = sorted({lab for lab, t in zip(labels, target.tolist(), strict=True) if lab and t < 0})
    top1 = top5 = None
    if bool(ok.any()):
        top = logits[ok].topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == target[ok][:, None]
        top1, top5 = float(hits[:, 0].float().mean()), float(hits.any(1).float().mean())
    return Accuracy(
        items=len(labels),
        matched=int(ok.sum()),
        unlabelled=sum(lab is None for lab in labels),
        unmatched_labels=tuple(unmatched),
        top1=top1,
        top5=top5,
        n_classes=len(class_names),
    )


def raster_renderer(model: torch.nn.Module) -> Callable[[SketchBatch], torch.Tensor]:
    """The canvas a raster-sketch model's sketches are drawn with (as `strokelens predict` draws them)."""
    from strokelens.render import QuickDrawBitmap

    return getattr(model, "raster_preset", None) or QuickDrawBitmap(size=model.input_size)


def model_inputs(
    model: torch.nn.Module,
    items: Sequence[Sketch | Path],
    renderer: Callable[[SketchBatch], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, ...]:
    """Exactly what ``model`` receives for ``items``: raster sketches drawn by ``renderer`` (default:
    the model's own canvas) ``(B, C, H, W)``; vector sketches as prepared ``(points, stroke_ids)``;
    photos centre-cropped and resized ``(B, 3, H, W)``."""
    kind = kinds.of(model)
    if kind is kinds.IMAGE:
        from strokelens.io.photos import open_image
        from strokelens.models.darknet import preprocess

        return (torch.stack([preprocess(open_image(p), model.input_size) for p in items]),)
    batch = SketchBatch.from_sketches(list(items))
    if kind is kinds.VECTOR_SKETCH:
        return tuple(model.prepare(batch))
    return ((renderer or raster_renderer(model))(batch),)


@dataclass
class CheckResult:
    """What `check_model` measured: the accuracy, every logit, and the first inputs as prepared."""

    accuracy: Accuracy
    logits: torch.Tensor
    shown: tuple[torch.Tensor, ...]
    kind: InputKind


def check_model(
    model: torch.nn.Module,
    items: Sequence[Sketch | Path],
    show: int = 32,
    renderer: Callable[[SketchBatch], torch.Tensor] | None = None,
) -> CheckResult:
    """Run ``model`` on labelled ``items`` (drawings, or photo paths) in batches; keep the prepared
    inputs of the first ``show`` for the picture (`strokelens.recipe.picture.input_grid`)."""
    kind = kinds.of(model, among=kinds.CLASSIFIER_KINDS)
    logits, shown = [], None
    with torch.no_grad():
        for i in range(0, len(items), BATCH):
            x = model_inputs(model, items[i : i + BATCH], renderer)
            logits.append(model(*x).float().cpu())
            if shown is None:
                shown = tuple(t[:show].cpu() for t in x)
    all_logits = torch.cat(logits) if logits else torch.zeros(0, len(model.class_names))
    labels = [input_label(it) for it in items]
    return CheckResult(accuracy(all_logits, labels, model.class_names), all_logits, shown or (), kind)
