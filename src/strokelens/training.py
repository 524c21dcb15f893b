"""Training the models strokelens ships: the stroke transformer on SPG.

The sketches are prepared once into padded tensors (normalised frame, strokes resampled), then each
step slices a batch, augments it on tensors (random rotation, scale, shift, stroke dropout through the
model's soft presence) and takes an AdamW step. Runs are seeded: the same call gives the same weights.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.models.stroke_transformer import (
    WEIGHTS_NAME,
    StrokeTransformer,
    StrokeTransformerConfig,
    normalise_points,
)
from strokelens.sketch import Sketch, SketchBatch

#: Epochs the CLI trains the default config for.
DEFAULT_EPOCHS = 30


@dataclass
class PreparedSketches:
    """Sketches as model input: ``points (M, S*P, 2)``, ``stroke_ids (M, S*P)``, ``labels (M,)``."""

    points: torch.Tensor
    stroke_ids: torch.Tensor
    n_strokes: torch.Tensor
    labels: torch.Tensor
    points_per_stroke: int

    def __len__(self) -> int:
        return self.points.shape[0]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows ``index``, trimmed to the widest sketch among them."""
        width = int(self.n_strokes[index].max()) * self.points_per_stroke
        return self.points[index, :width], self.stroke_ids[index, :width], self.labels[index]


def prepare_sketches(
    model: StrokeTransformer, sketches: Sequence[Sketch], chunk: int = 512
) -> PreparedSketches:
    """Run `StrokeTransformer.prepare` once over ``sketches`` (in chunks) and pad the results together."""
    if not sketches:
        raise StrokelensError("no sketches to prepare")
    index = {name: i for i, name in enumerate(model.class_names)}
    missing = sorted({s.label for s in sketches if s.label not in index}, key=str)
    if missing:
        raise StrokelensError(f"sketch labels {missing} are not among the model's classes")
    count = model.config.points_per_stroke
    width = max(s.n_strokes for s in sketches) * count
    points = torch.zeros(len(sketches), width, 2)
    stroke_ids = torch.full((len(sketches), width), -1, dtype=torch.long)
    for i in range(0, len(sketches), chunk):
        pts, sid = model.prepare(SketchBatch.from_sketches(sketches[i : i + chunk]))
        points[i : i + len(pts), : pts.shape[1]] = pts
        stroke_ids[i : i + len(pts), : pts.shape[1]] = sid
    return PreparedSketches(
        points=points,
        stroke_ids=stroke_ids,
        n_strokes=torch.tensor([s.n_strokes for s in sketches]),
        labels=torch.tensor([index[s.label] for s in sketches]),
        points_per_stroke=count,
    )


def augment(
    points: torch.Tensor,
    stroke_ids: torch.Tensor,
    generator: torch.Generator,
    rotate_deg: float = 12.0,
    scale: tuple[float, float] = (0.8, 1.2),
    stroke_drop: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rotation and anisotropic scale per sketch, back in the normalised frame, and stroke dropout.

    Returns the new points and a presence ``(B, S)`` with dropped strokes at 0 (at least one kept).
    """
    b = points.shape[0]
    mask = stroke_ids >= 0
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(rotate_deg)
    sxy = scale[0] + torch.rand(b, 2, generator=generator) * (scale[1] - scale[0])
    cos, sin = angle.cos(), angle.sin()
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    mat = rot * sxy[:, None, :]
    pts = normalise_points((points - 0.5) @ mat.transpose(1, 2), mask)
    n_slots = int(stroke_ids.max()) + 1
    exists = torch.zeros(b, n_slots, dtype=torch.bool)
    exists[torch.arange(b)[:, None].expand_as(stroke_ids)[mask], stroke_ids[mask]] = True
    drop = (torch.rand(b, n_slots, generator=generator) < stroke_drop) & exists
    all_gone = (exists & ~drop).sum(1) == 0
    drop[all_gone] = False
    return pts, (~drop).to(points.dtype)


def bucketed_batches(
    n_strokes: torch.Tensor, batch_size: int, generator: torch.Generator, pool: int = 32
) -> list[torch.Tensor]:
    """One epoch of shuffled batches of sketches with similar stroke counts (less padding).

    Shuffle, cut into pools of ``pool`` batches, sort each pool by stroke count, cut it into batches
    and shuffle the batches: still random, but a batch is about as wide as its sketches.
    """
    order = torch.randperm(len(n_strokes), generator=generator)
    out: list[torch.Tensor] = []
    for start in range(0, len(order), pool * batch_size):
        chunk = order[start : start + pool * batch_size]
        chunk = chunk[torch.sort(n_strokes[chunk], stable=True).indices]
        out.extend(chunk.split(batch_size))
    return [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]


@torch.no_grad()
def evaluate(model: StrokeTransformer, data: PreparedSketches, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on prepared data."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(data), batch_size):
        pts, sid, lab = data.batch(torch.arange(i, min(i + batch_size, len(data))))
        correct += int((model(pts.to(device), sid.to(device)).argmax(1).cpu() == lab).sum())
    model.train(was_training)
    return correct / len(data)


def train_stroke_transformer(
    config: StrokeTransformerConfig,
    train_sketches: Sequence[Sketch],
    val_sketches: Sequence[Sketch],
    epochs: int,
    seed: int,
    out_dir: str | os.PathLike[str] | None,
    progress: bool = True,
    *,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    warmup_steps: int = 200,
    use_augment: bool = True,
    device: torch.device | str | None = None,
    name: str = WEIGHTS_NAME,
) -> dict:
    """Train a `StrokeTransformer` with AdamW and a cosine schedule; keep the best validation epoch.

    Writes ``name.safetensors`` + ``name.json`` (config, class names) and ``metrics.json`` to
    ``out_dir`` (unless None). Returns the metrics (per-epoch loss and validation top-1, best epoch,
    wall seconds) with the trained model under key ``"model"`` (not written to JSON).
    """
    if epochs < 1:
        raise StrokelensError(f"epochs must be at least 1, got {epochs}")
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    class_names = sorted({str(s.label) for s in train_sketches})
    if len(class_names) != config.n_classes:
        raise StrokelensError(f"training data has {len(class_names)} classes, config says {config.n_classes}")
    model = StrokeTransformer(config, class_names)
    train = prepare_sketches(model, train_sketches)
    val = prepare_sketches(model, val_sketches)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model.to(dev).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("order",)]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n not in ("order",))]
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total - warmup_steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_at)
    generator = torch.Generator().manual_seed(seed)
    metrics: dict = {
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "n_train": len(train),
        "n_val": len(val),
        "train_loss": [],
        "val_top1": [],
    }
    best, best_state = -1.0, None
    bar = _progress(progress)
    with bar:
        task = bar.add_task("training", total=total, info="")
        for epoch in range(epochs):
            loss_sum = 0.0
            for i, index in enumerate(bucketed_batches(train.n_strokes, batch_size, generator)):
                pts, sid, lab = train.batch(index)
                presence = None
                if use_augment:
                    pts, presence = augment(pts, sid, generator)
                    presence = presence.to(dev)
                logits = model(pts.to(dev), sid.to(dev), presence)
                loss = F.cross_entropy(logits, lab.to(dev), label_smoothing=label_smoothing)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
                scheduler.step()
                loss_sum += float(loss.detach())
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{epochs} loss {loss_sum / (i + 1):.3f}")
            acc = evaluate(model, val)
            metrics["train_loss"].append(round(loss_sum / steps_per_epoch, 5))
            metrics["val_top1"].append(round(acc, 5))
            if acc > best:
                best = acc
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                metrics["best_epoch"] = epoch + 1
            if progress:
                bar.console.log(
                    f"epoch {epoch + 1}: loss {loss_sum / steps_per_epoch:.4f}  val top-1 {acc:.4f}"
                )
    model.load_state_dict(best_state)
    model.eval()
    metrics["best_val_top1"] = round(best, 5)
    metrics["wall_seconds"] = round(time.perf_counter() - start, 1)
    metrics["cpu_seconds"] = round(
        time.process_time() - cpu_start, 1
    )  # all threads; robust to a busy machine
    metrics["threads"] = torch.get_num_threads()
    metrics["config"] = config.to_dict()
    if out_dir is not None:
        out = Path(out_dir)
        model.save(out, name, extra={"training": {k: metrics[k] for k in ("seed", "epochs", "best_epoch")}})
        write_metrics(out / "metrics.json", metrics)
    metrics["model"] = model
    return metrics


def write_metrics(path: Path, metrics: dict) -> None:
    """Write the JSON-ready part of ``metrics``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in metrics.items() if k != "model"}, indent=2) + "\n")


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        disable=not enabled,
    )
