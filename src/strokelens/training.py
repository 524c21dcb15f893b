"""Training the models strokelens ships: the stroke transformer on SPG.

The sketches are prepared once into padded tensors (normalised frame, strokes resampled), then each
step slices a batch, augments it on tensors (see `AugmentConfig`: rotation, anisotropic scale, shear,
point jitter, stroke shifts, stroke reversal and local reordering, RDP-simplified copies, stroke dropout
through the model's soft presence) and takes an AdamW step. Extra training sketches (quickdraw-345x25's
drawings of the SPG classes) can be mixed in, repeated. Runs are seeded: the same call gives the same
weights.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
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
DEFAULT_EPOCHS = 20


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


@dataclass(frozen=True)
class AugmentConfig:
    """Random changes to training sketches, all drawn per sketch or per stroke on padded tensors.

    Lengths are in the normalised frame (the longer side spans 0..1). The defaults are the ``varied``
    set of ``strokelens train stroke-transformer --augment``; `basic` is the shipped model's.
    """

    #: Rotation, uniform in +-rotate_deg degrees.
    rotate_deg: float = 15.0
    #: Scale of x and y, each uniform in this range (anisotropic).
    scale: tuple[float, float] = (0.75, 1.25)
    #: Shear factor, uniform in +-shear.
    shear: float = 0.2
    #: Standard deviation of the noise added to every resampled point.
    jitter: float = 0.006
    #: Standard deviation of a shift of each whole stroke.
    stroke_shift: float = 0.02
    #: Probability that a stroke is drawn backwards.
    reverse: float = 0.1
    #: Standard deviation of the noise added to stroke indices before sorting them (0: keep the order;
    #: 0.5 mostly swaps neighbours).
    order_noise: float = 0.5
    #: Probability that a stroke is dropped (presence 0; at least one stays).
    stroke_drop: float = 0.1
    #: Probability that a sketch is replaced by its RDP-simplified copy (QuickDraw's recipe with a
    #: random epsilon, made once at preparation).
    simplify: float = 0.5
    #: RDP epsilon of the simplified copies, uniform in this range, in QuickDraw's 0-255 frame.
    simplify_epsilon: tuple[float, float] = (1.0, 4.0)

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation (points are still put back in the normalised frame)."""
        return cls(
            rotate_deg=0.0,
            scale=(1.0, 1.0),
            shear=0.0,
            jitter=0.0,
            stroke_shift=0.0,
            reverse=0.0,
            order_noise=0.0,
            stroke_drop=0.0,
            simplify=0.0,
        )

    @classmethod
    def basic(cls) -> AugmentConfig:
        """Rotation +-12 degrees, scale 0.8-1.2 and stroke dropout 0.1 only."""
        return replace(cls.none(), rotate_deg=12.0, scale=(0.8, 1.2), stroke_drop=0.1)

    def to_dict(self) -> dict:
        return asdict(self)


def augment(
    points: torch.Tensor,
    stroke_ids: torch.Tensor,
    generator: torch.Generator,
    config: AugmentConfig | None = None,
    points_per_stroke: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment prepared points (see `AugmentConfig`), back in the normalised frame.

    ``points`` ``(B, S*P, 2)`` and ``stroke_ids`` as `prepare_sketches` makes them (stroke ``k`` of a
    sketch in slot ``k``, ``P = points_per_stroke`` points each); reversal, reordering, shifts and
    jitter need ``points_per_stroke``. Returns the new points and a presence ``(B, S)`` with dropped
    strokes at 0 (at least one kept). The stroke ids stay valid: reordering moves whole slots.
    """
    cfg = config or AugmentConfig()
    b = points.shape[0]
    mask = stroke_ids >= 0
    pts = points
    n_slots = int(stroke_ids.max()) + 1
    if points_per_stroke is not None and (cfg.reverse or cfg.order_noise or cfg.stroke_shift or cfg.jitter):
        p = points_per_stroke
        if points.shape[1] % p:
            raise StrokelensError(f"{points.shape[1]} points are not slots of {p} points")
        grid = pts.reshape(b, -1, p, 2)
        s = grid.shape[1]
        exists = mask.reshape(b, s, p)[..., 0]
        if cfg.reverse:
            flip = (torch.rand(b, s, generator=generator) < cfg.reverse)[..., None, None]
            grid = torch.where(flip, grid.flip(2), grid)
        if cfg.order_noise:
            keys = torch.arange(s, dtype=pts.dtype) + cfg.order_noise * torch.randn(b, s, generator=generator)
            keys = torch.where(exists, keys, torch.full_like(keys, float("inf")))
            perm = keys.argsort(dim=1, stable=True)  # present slots first, empty ones stay last
            grid = grid.gather(1, perm[..., None, None].expand(-1, -1, p, 2))
        noise = torch.zeros_like(grid)
        if cfg.stroke_shift:
            noise = noise + cfg.stroke_shift * torch.randn(b, s, 1, 2, generator=generator)
        if cfg.jitter:
            noise = noise + cfg.jitter * torch.randn(b, s, p, 2, generator=generator)
        pts = (grid + noise).reshape(b, -1, 2)
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(cfg.rotate_deg)
    lo, hi = cfg.scale
    sxy = lo + torch.rand(b, 2, generator=generator) * (hi - lo)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    mat = rot * sxy[:, None, :]
    if cfg.shear:
        k = (torch.rand(b, generator=generator) * 2 - 1) * cfg.shear
        shear = torch.eye(2).repeat(b, 1, 1)
        shear[:, 0, 1] = k
        mat = mat @ shear
    pts = normalise_points((pts - 0.5) @ mat.transpose(1, 2), mask)
    exists = torch.zeros(b, n_slots, dtype=torch.bool)
    exists[torch.arange(b)[:, None].expand_as(stroke_ids)[mask], stroke_ids[mask]] = True
    drop = (torch.rand(b, n_slots, generator=generator) < cfg.stroke_drop) & exists
    all_gone = (exists & ~drop).sum(1) == 0
    drop[all_gone] = False
    return pts, (~drop).to(points.dtype)


def simplified_copies(sketches: Sequence[Sketch], epsilon: tuple[float, float], seed: int) -> list[Sketch]:
    """Each sketch through QuickDraw's simplification (0-255 frame, 1-unit resampling, RDP) with a random
    epsilon uniform in ``epsilon``; the stroke count is unchanged (RDP keeps every stroke's ends)."""
    eps = np.random.default_rng(seed).uniform(epsilon[0], epsilon[1], len(sketches))
    return [s.normalized().resampled(1.0).simplified(float(e)) for s, e in zip(sketches, eps, strict=True)]


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
    val_sketches: Sequence[Sketch] | Mapping[str, Sequence[Sketch]],
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
    augment_config: AugmentConfig | None = None,
    extra_train: Sequence[Sketch] = (),
    extra_repeat: int = 1,
    device: torch.device | str | None = None,
    name: str = WEIGHTS_NAME,
) -> dict:
    """Train a `StrokeTransformer` with AdamW and a cosine schedule; keep the best validation epoch.

    ``extra_train`` sketches join the training set ``extra_repeat`` times each (each repeat augmented
    anew). ``val_sketches`` may be several named sets: the best epoch is then the one with the best
    top-1 over all their sketches pooled (``val_top1``; ``val_top1_by_set`` holds each set's). Pooled,
    not the mean of the sets' figures: a small set (30 drawings) would make the choice a coin toss.
    Writes ``name.safetensors`` + ``name.json`` (config, class names) and ``metrics.json`` to
    ``out_dir`` (unless None). Returns the metrics (per-epoch loss and validation top-1, best epoch,
    wall and CPU seconds) with the trained model under key ``"model"`` (not written to JSON).
    """
    if epochs < 1:
        raise StrokelensError(f"epochs must be at least 1, got {epochs}")
    if extra_repeat < 1:
        raise StrokelensError(f"extra_repeat must be at least 1, got {extra_repeat}")
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    aug = augment_config or AugmentConfig()
    sketches = [*train_sketches, *(list(extra_train) * extra_repeat)]
    class_names = sorted({str(s.label) for s in train_sketches})
    if len(class_names) != config.n_classes:
        raise StrokelensError(f"training data has {len(class_names)} classes, config says {config.n_classes}")
    model = StrokeTransformer(config, class_names)
    train = prepare_sketches(model, sketches)
    simple = None
    if use_augment and aug.simplify > 0:
        simple = prepare_sketches(model, simplified_copies(sketches, aug.simplify_epsilon, seed))
        if not torch.equal(simple.n_strokes, train.n_strokes):
            raise StrokelensError("simplification changed a sketch's stroke count")
    val_sets = dict(val_sketches) if isinstance(val_sketches, Mapping) else {"val": val_sketches}
    vals = {key: prepare_sketches(model, v) for key, v in val_sets.items()}
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
        "n_extra_train": len(extra_train),
        "extra_repeat": extra_repeat,
        "n_val": {key: len(v) for key, v in vals.items()}
        if len(vals) > 1
        else len(next(iter(vals.values()))),
        "augment": aug.to_dict() if use_augment else None,
        "train_loss": [],
        "val_top1": [],
    }
    if len(vals) > 1:
        metrics["val_top1_by_set"] = {key: [] for key in vals}
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
                    if simple is not None:
                        use = torch.rand(len(index), generator=generator) < aug.simplify
                        pts = torch.where(use[:, None, None], simple.batch(index)[0], pts)
                    pts, presence = augment(pts, sid, generator, aug, train.points_per_stroke)
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
            accs = {key: evaluate(model, v) for key, v in vals.items()}
            acc = sum(accs[key] * len(v) for key, v in vals.items()) / sum(len(v) for v in vals.values())
            if len(vals) > 1:
                for key, value in accs.items():
                    metrics["val_top1_by_set"][key].append(round(value, 5))
            metrics["train_loss"].append(round(loss_sum / steps_per_epoch, 5))
            metrics["val_top1"].append(round(acc, 5))
            if acc > best:
                best = acc
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                metrics["best_epoch"] = epoch + 1
            if progress:
                by_set = (
                    "  ".join(f"{key} {value:.4f}" for key, value in accs.items()) if len(accs) > 1 else ""
                )
                bar.console.log(
                    f"epoch {epoch + 1}: loss {loss_sum / steps_per_epoch:.4f}  val top-1 {acc:.4f}  {by_set}"
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
