"""How well the completion model completes: IoU of the generated ink against the removed strokes'
ink and the whole drawing, beside naive baselines, and the ink threshold chosen on val."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from strokelens.generation.data import CompletionData
from strokelens.models.completion import CompletionNet

#: Thresholds tried on the val split for the model and the mean-raster baseline.
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


def iou(pred: torch.Tensor, truth: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
    """Per-item IoU ``(R,)`` of boolean images ``(R, 1, H, W)``, counted on pixels ``where``; NaN
    where both are empty."""
    if where is not None:
        pred, truth = pred & where, truth & where
    inter = (pred & truth).flatten(1).sum(1).float()
    union = (pred | truth).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(union, float("nan")))


def completion_scores(
    generated: torch.Tensor, partial: torch.Tensor, full: torch.Tensor, threshold: float, ink: float = 0.5
) -> dict[str, torch.Tensor]:
    """Per-item IoUs: ``removed`` (generated ink vs the removed strokes' ink, on pixels the partial
    drawing does not ink) and ``full`` (generated vs the whole drawing). Ink above ``ink`` counts
    in the drawings, generated ink above ``threshold``."""
    free = partial <= ink
    truth = full > ink
    pred = generated > threshold
    return {"removed": iou(pred, truth, free), "full": iou(pred, truth)}


def _nanmean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if len(x) else float("nan")


@torch.no_grad()
def generate(model: CompletionNet, partial: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The model's ink for partial ink ``(R, 1, H, W)``, in batches on the model's device (on the CPU)."""
    device = next(model.parameters()).device
    out = [model(partial[i : i + batch_size].to(device)).cpu() for i in range(0, len(partial), batch_size)]
    return torch.cat(out)


def best_threshold(generated: torch.Tensor, data: CompletionData) -> tuple[float, float]:
    """The threshold of `THRESHOLDS` with the best mean removed-ink IoU, and that IoU."""
    scores = [
        _nanmean(completion_scores(generated, data.partial, data.full, t)["removed"]) for t in THRESHOLDS
    ]
    k = max(range(len(scores)), key=lambda i: (scores[i], -abs(THRESHOLDS[i] - 0.5)))
    return THRESHOLDS[k], scores[k]


def completion_iou(
    model: CompletionNet,
    data: CompletionData,
    mean_raster: torch.Tensor,
    mean_threshold: float,
) -> dict[str, float]:
    """Figures on ``data``: the model at its config's threshold, and the naive baselines: the train
    split's mean whole-drawing raster (at ``mean_threshold``, chosen on val), the input dilated by
    one pixel, and (for the whole drawing) the input itself. ``generation_iou_baseline`` is the best
    naive baseline on removed ink."""
    gen = generate(model, data.partial)
    thr = model.config.threshold
    ours = completion_scores(gen, data.partial, data.full, thr)
    mean = completion_scores(mean_raster.expand_as(data.full), data.partial, data.full, mean_threshold)
    dilated = F.max_pool2d(data.partial, 3, stride=1, padding=1)
    dil = completion_scores(dilated, data.partial, data.full, 0.5)
    same = completion_scores(data.partial, data.partial, data.full, 0.5)
    out = {
        "generation_iou": _nanmean(ours["removed"]),
        "generation_iou_full": _nanmean(ours["full"]),
        "generation_iou_mean_raster": _nanmean(mean["removed"]),
        "generation_iou_dilated": _nanmean(dil["removed"]),
        "generation_iou_full_input": _nanmean(same["full"]),
        "generation_iou_full_mean_raster": _nanmean(mean["full"]),
    }
    out["generation_iou_baseline"] = max(out["generation_iou_mean_raster"], out["generation_iou_dilated"])
    out["generation_iou_full_baseline"] = max(
        out["generation_iou_full_input"], out["generation_iou_full_mean_raster"]
    )
    out["n_sketches"] = len(data.full)
    return out
