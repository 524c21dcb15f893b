"""Explained generation: a sketch completion model, its training and figures, and the view that
explains which strokes of a partial drawing produced a region of the generated drawing.

- `StrokeInks`: every stroke of every sketch drawn alone, once, in its whole sketch's frame; any
  subset of a sketch's strokes is then ``1 - prod(1 - c_stroke)`` over the subset, exactly what the
  renderer's ``composite`` draws for presence 0/1. Training and the figures draw partial drawings
  from it in a few tensor operations.
- `removal_masks`: which strokes a partial drawing drops (a random 30-60 % of each drawing's
  strokes by default, at least one kept), seeded.
- `train_completion`: trains a `CompletionNet` on SPG train, selects on val.
- `completion_iou`: IoU of the generated ink against the removed strokes' ink (on the pixels the
  input does not ink) and on the whole drawing, beside naive baselines.
- `CompletionView`: the completion model seen through the partial drawing's strokes (drawn with
  opacity ``z`` in the whole drawing's frame); its outputs are images, not class logits, so
  targets are callables such as `strokelens.targets.region`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.models.completion import WEIGHTS_NAME, CompletionConfig, CompletionNet
from strokelens.sketch import Sketch, SketchBatch
from strokelens.units.strokes import SketchUnits
from strokelens.views.raster import RasterSketchView

#: Share of a drawing's strokes removed, drawn uniformly per drawing.
REMOVE_RANGE = (0.3, 0.6)
#: Thresholds tried on the val split for the model and the mean-raster baseline.
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
#: The ``Sketch.meta`` key of a partial drawing's whole-drawing box ``[x0, y0, x1, y1]``.
WHOLE_BBOX = "whole_bbox"
#: Coverage is clamped below 1 by the rasteriser; the same clamp keeps every log finite here.
_C_MAX = 1.0 - 1e-6


def prepare_sketches(sketches: Sequence[Sketch], config: CompletionConfig) -> list[Sketch]:
    """Sketches as the model sees them (QuickDraw's simplification when ``config.simplify``)."""
    return [s.quickdraw_simplified() for s in sketches] if config.simplify else list(sketches)


@dataclass
class StrokeInks:
    """Each stroke of ``M`` sketches drawn alone in its sketch's frame.

    ``ink``: ``(S, H, W)`` float16 coverage of each stroke; ``index``: ``(M, K)`` long, the rows of
    ``ink`` holding each sketch's strokes in order, ``-1`` past its own count; ``n_strokes`` ``(M,)``.
    """

    ink: torch.Tensor
    index: torch.Tensor
    n_strokes: torch.Tensor

    def __len__(self) -> int:
        return len(self.n_strokes)

    @classmethod
    def build(cls, sketches: Sequence[Sketch], renderer: torch.nn.Module, chunk: int = 256) -> StrokeInks:
        """Draw every stroke alone (one ``composite`` with one-hot presence per chunk of sketches)."""
        if not sketches:
            raise StrokelensError("no sketches to draw")
        inks, counts = [], []
        for start in range(0, len(sketches), chunk):
            batch = SketchBatch.from_sketches(sketches[start : start + chunk])
            cov = renderer.coverage(batch)
            b, k = len(batch), batch.max_strokes
            rows = torch.arange(b).repeat_interleave(k)
            ink = renderer.composite(cov, torch.eye(k).repeat(b, 1), rows)[:, 0]
            inks.append(ink[batch.stroke_mask.reshape(-1)].half())
            counts.append(batch.n_strokes)
        n = torch.cat(counts)
        width = int(n.max())
        first = torch.cumsum(n, 0) - n
        ar = torch.arange(width)
        index = torch.where(ar[None] < n[:, None], first[:, None] + ar[None], -1)
        return cls(torch.cat(inks), index, n)

    def draw(self, items: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """``(R, 1, H, W)`` ink of sketches ``items`` ``(R,)`` with strokes ``keep`` ``(R, K')`` (bool
        or 0/1, ``K'`` at least the items' widest stroke count; None: all)."""
        idx = self.index[items]
        width = int(self.n_strokes[items].max())
        idx = idx[:, :width]
        valid = idx >= 0
        if keep is not None:
            valid = valid & keep[:, :width].bool()
        c = self.ink[idx.clamp_min(0)].float().clamp_max(_C_MAX)
        log_t = torch.log1p(-c) * valid[..., None, None]
        return (-torch.expm1(log_t.sum(1)))[:, None]


def removal_masks(
    n_strokes: torch.Tensor,
    generator: torch.Generator,
    width: int | None = None,
    fraction: tuple[float, float] = REMOVE_RANGE,
) -> torch.Tensor:
    """``(M, width)`` bool, True on the strokes removed: ``round(f * n)`` random strokes of each drawing
    with ``f`` uniform in ``fraction``, at least one removed and at least one kept where ``n >= 2``
    (nothing removed from one-stroke drawings)."""
    lo, hi = fraction
    if not 0 <= lo <= hi <= 1:
        raise StrokelensError(f"removal fraction must satisfy 0 <= lo <= hi <= 1, got {fraction}")
    n = n_strokes.long()
    width = int(n.max()) if width is None else width
    m = len(n)
    f = lo + (hi - lo) * torch.rand(m, generator=generator)
    count = torch.minimum(torch.clamp_min((f * n).round().long(), 1), n - 1).clamp_min(0)
    ar = torch.arange(width)
    key = torch.where(ar[None] < n[:, None], torch.rand(m, width, generator=generator), 2.0)
    rank = key.argsort(1).argsort(1)
    return rank < count[:, None]


def partial_sketches(sketches: Sequence[Sketch], removed: torch.Tensor) -> list[Sketch]:
    """The sketches without their ``removed`` ``(M, K)`` strokes, each remembering its whole
    drawing's bounding box (``meta["whole_bbox"]``, which `CompletionView` frames it by)."""
    out = []
    for i, s in enumerate(sketches):
        keep = [k for k in range(s.n_strokes) if not bool(removed[i, k])]
        if not keep:
            raise StrokelensError(f"sketch {i}: every stroke is removed; keep at least one")
        part = s.subset(keep)
        out.append(replace(part, meta={**s.meta, WHOLE_BBOX: list(map(float, s.bbox()))}))
    return out


def with_whole_frame(partial: Sketch, whole: Sketch) -> Sketch:
    """``partial`` (strokes of ``whole``, in its coordinates) framed as ``whole`` by `CompletionView`."""
    return replace(partial, meta={**partial.meta, WHOLE_BBOX: list(map(float, whole.bbox()))})


# --------------------------------------------------------------------------- figures
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


@dataclass
class CompletionData:
    """Partial and whole drawings ``(M, 1, H, W)`` of an evaluation set, with the removal masks."""

    partial: torch.Tensor
    full: torch.Tensor
    removed: torch.Tensor

    @classmethod
    def make(cls, inks: StrokeInks, seed: int) -> CompletionData:
        gen = torch.Generator().manual_seed(seed)
        removed = removal_masks(inks.n_strokes, gen, inks.index.shape[1])
        items = torch.arange(len(inks))
        partial = torch.cat([inks.draw(c, ~removed[c]) for c in items.split(512)])
        full = torch.cat([inks.draw(c) for c in items.split(512)])
        return cls(partial, full, removed)


def removed_ink_boxes(data: CompletionData, ink: float = 0.5) -> torch.Tensor:
    """``(M, 4)`` pixel boxes ``x0, y0, x1, y1`` (ends excluded, for `strokelens.targets.box_mask`)
    around each drawing's removed ink (pixels the whole drawing inks and the partial one does not);
    the whole canvas where there is none."""
    missing = (data.full[:, 0] > ink) & (data.partial[:, 0] <= ink)
    h, w = missing.shape[1:]
    rows, cols = missing.any(2), missing.any(1)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    big = max(h, w) + 1
    box = torch.stack(
        [
            torch.where(cols, ar_w, big).amin(1),
            torch.where(rows, ar_h, big).amin(1),
            torch.where(cols, ar_w, -1).amax(1) + 1,
            torch.where(rows, ar_h, -1).amax(1) + 1,
        ],
        1,
    )
    none = ~missing.flatten(1).any(1)
    return torch.where(none[:, None], torch.tensor([0, 0, w, h]), box)


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


# --------------------------------------------------------------------------- training
def train_completion(
    config: CompletionConfig,
    train: StrokeInks,
    val: CompletionData,
    epochs: int,
    seed: int = 0,
    *,
    max_minutes: float | None = None,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    device: torch.device | str | None = None,
    progress: bool = True,
    log=None,
) -> dict:
    """Train a `CompletionNet` on the strokes ``train`` (`StrokeInks` of the training sketches, drawn
    by ``config.renderer()``): per step, random 30-60 % of each drawing's strokes removed (seeded), a
    random horizontal flip, BCE of the logits against the whole drawing's ink; AdamW with a cosine
    schedule over the epochs or ``max_minutes`` (whichever runs out first: training stops there).
    After each epoch ``val`` (fixed removals) picks the threshold and the best epoch by removed-ink
    IoU. Returns the training record with the best model under ``"model"``."""
    if epochs < 1:
        raise StrokelensError(f"epochs must be at least 1, got {epochs}")
    if max_minutes is not None and max_minutes <= 0:
        raise StrokelensError(f"max_minutes must be positive, got {max_minutes}")
    start = time.perf_counter()
    torch.manual_seed(seed)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = CompletionNet(config).to(dev).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch
    budget = None if max_minutes is None else max_minutes * 60.0
    gen = torch.Generator().manual_seed(seed)
    record: dict = {
        "data": "quickdraw-spg",
        "train_split": "train",
        "val_split": "val",
        "n_train": len(train),
        "n_val": len(val.full),
        "seed": seed,
        "epochs": epochs,
        "max_minutes": max_minutes,
        "batch_size": batch_size,
        "lr": lr,
        "remove_fraction": list(REMOVE_RANGE),
        "train_loss": [],
        "val_loss": [],
        "val_iou": [],
        "val_threshold": [],
    }
    best, best_state = -1.0, None
    train_start = time.perf_counter()
    step, stopped = 0, "epochs"
    from strokelens.training import _progress

    bar = _progress(progress)
    with bar:
        task = bar.add_task("training", total=total, info="")
        for epoch in range(epochs):
            loss_sum, n_steps = 0.0, 0
            for index in torch.randperm(len(train), generator=gen).split(batch_size):
                removed = removal_masks(train.n_strokes[index], gen, train.index.shape[1])
                partial, full = train.draw(index, ~removed), train.draw(index)
                flip = torch.rand(len(index), generator=gen) < 0.5
                partial = torch.where(flip[:, None, None, None], partial.flip(-1), partial)
                full = torch.where(flip[:, None, None, None], full.flip(-1), full)
                frac = step / total
                if budget is not None:
                    frac = max(frac, (time.perf_counter() - train_start) / budget)
                for group in optimiser.param_groups:
                    group["lr"] = (
                        lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
                    )
                loss = model.loss(partial.to(dev), full.to(dev))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                step += 1
                n_steps += 1
                loss_sum += float(loss.detach())
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{epochs} loss {loss_sum / n_steps:.4f}")
                if budget is not None and time.perf_counter() - train_start > budget:
                    stopped = "max_minutes"
                    break
            model.eval()
            val_gen = generate(model, val.partial)
            val_loss = float(F.binary_cross_entropy(val_gen.clamp(1e-6, 1 - 1e-6), val.full))
            thr, score = best_threshold(val_gen, val)
            model.train()
            record["train_loss"].append(round(loss_sum / max(n_steps, 1), 5))
            record["val_loss"].append(round(val_loss, 5))
            record["val_iou"].append(round(score, 5))
            record["val_threshold"].append(thr)
            message = (
                f"epoch {epoch + 1}: loss {loss_sum / max(n_steps, 1):.4f}  val loss {val_loss:.4f}  "
                f"val removed-ink IoU {score:.4f} (threshold {thr})  {time.perf_counter() - start:.0f}s"
            )
            if log is not None:
                log(message)
            elif progress:
                bar.console.log(message)
            if score > best:
                best, record["best_epoch"], best_thr = score, epoch + 1, thr
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if stopped == "max_minutes":
                break
    model.load_state_dict(best_state)
    model.config.threshold = best_thr
    model.eval()
    record["epochs_run"] = len(record["train_loss"])
    record["steps"] = step
    record["stopped"] = stopped
    record["best_val_iou"] = round(best, 5)
    record["threshold"] = best_thr
    record["train_seconds"] = round(time.perf_counter() - start, 1)
    record["threads"] = torch.get_num_threads()
    record["device"] = str(dev)
    record["config"] = model.config.to_dict()
    record["model"] = model
    return record


def mean_raster(inks: StrokeInks) -> torch.Tensor:
    """``(1, 1, H, W)``: the mean whole-drawing ink of ``inks`` (the naive baseline)."""
    items = torch.arange(len(inks))
    return sum(inks.draw(c).sum(0, keepdim=True) for c in items.split(512)) / len(inks)


# --------------------------------------------------------------------------- the view
class CompletionView(RasterSketchView):
    """A completion model seen through the strokes of a partial drawing: unit ``k`` drawn with opacity
    ``z_k`` by the model's canvas, **in the whole drawing's frame** (``view.game(units, target,
    frame=...)``: the frame ``(B, 3)`` of `SketchCanvas.frame`, or the whole sketches; default: the
    partial drawing's own frame). Outputs are the generated ink ``(R, 1, H, W)``, not class logits:
    targets are callables (`strokelens.targets.region`, ...) and scores are raw (``logit``)."""

    outputs_are_logits = False
    input_kind = "raster-generator"
    item_name = "sketch"

    def __init__(self, model: CompletionNet, cache: bool = True) -> None:
        if not isinstance(model, CompletionNet):
            raise StrokelensError(f"CompletionView takes a CompletionNet, got {type(model).__name__}")
        super().__init__(model, renderer=model.config.renderer(), simplify=model.config.simplify, cache=cache)
        self.class_names: Sequence[str] = ["ink"]

    def prepare(self, inputs: Sequence[Sketch]) -> list[Sketch]:
        """Unchanged: a partial drawing must keep the whole drawing's coordinates (simplify the
        whole sketches with `prepare_sketches` before removing strokes)."""
        return list(inputs)

    def frame(self, units: SketchUnits, frame: torch.Tensor | Sequence[Sketch] | None = None) -> torch.Tensor:
        """``(B, 3)``: the canvas frame of each partial drawing: ``frame`` as given (a tensor, or the
        whole sketches), else each sketch's ``meta["whole_bbox"]`` (set by `partial_sketches`), else
        the partial drawing's own extent."""
        b = len(units)
        if isinstance(frame, torch.Tensor):
            frame_t = frame.detach().to(self.device, units.original.points.dtype)
        else:
            if frame is None:
                boxes = [s.meta.get(WHOLE_BBOX) for s in units.original.sketches]
                if all(box is None for box in boxes):
                    return self.renderer.frame(units.original)
                frame = [
                    Sketch([[box[0], box[1]], [box[2], box[3]]]) if box is not None else s
                    for box, s in zip(boxes, units.original.sketches, strict=True)
                ]
            frame = list(frame)
            if len(frame) != b or not all(isinstance(s, Sketch) for s in frame):
                raise StrokelensError(
                    f"frame must be a ({b}, 3) tensor or {b} whole sketches, got {len(frame)} items"
                )
            batch = SketchBatch.from_sketches(frame, device=self.device, dtype=units.original.points.dtype)
            frame_t = self.renderer.frame(batch)
        if tuple(frame_t.shape) != (b, 3):
            raise StrokelensError(
                f"frame must have shape ({b}, 3) for {b} drawings, got {tuple(frame_t.shape)}"
            )
        return frame_t

    def bind(
        self,
        units: SketchUnits,
        cache: bool | None = None,
        frame: torch.Tensor | Sequence[Sketch] | None = None,
    ) -> dict[str, Any]:
        """The frame (see `frame`) and, with ``cache`` (default: the view's), the units' pixel
        coverage in it."""
        frame_t = self.frame(units, frame)
        inputs: dict[str, Any] = {"units": units, "frame": frame_t}
        if self.cache if cache is None else cache:
            inputs["coverage"] = self.renderer.coverage(
                units.batch, segment_unit=units.segment_unit, frame=frame_t, points=units.points()
            )
        return inputs


__all__ = [
    "REMOVE_RANGE",
    "WEIGHTS_NAME",
    "WHOLE_BBOX",
    "CompletionData",
    "CompletionView",
    "StrokeInks",
    "best_threshold",
    "completion_iou",
    "completion_scores",
    "generate",
    "iou",
    "mean_raster",
    "partial_sketches",
    "prepare_sketches",
    "removal_masks",
    "removed_ink_boxes",
    "train_completion",
    "with_whole_frame",
]
