"""Training the sketch completion model on the SPG train split, selected on val: `CompletionTask` for
the one training loop (`strokelens.training.fit`)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from strokelens.generation.data import REMOVE_RANGE, CompletionData, StrokeInks, removal_masks
from strokelens.generation.quality import best_threshold, generate
from strokelens.models.completion import CompletionConfig, CompletionNet
from strokelens.training import LoopConfig, Schedule, Trained, Validation, fit

#: Steps of the linear warm-up (it ramps the cosine, which runs over every step).
WARMUP_STEPS = 100


class CompletionTask:
    """Per step: random 30-60 % of each drawing's strokes removed (seeded), a random horizontal flip,
    BCE of the logits against the whole drawing's ink. Validation (fixed removals) picks the
    threshold; the score is the removed-ink IoU at it (``val_iou``)."""

    score = "val_iou"
    higher_is_better = True

    def __init__(
        self,
        config: CompletionConfig,
        train: StrokeInks,
        val: CompletionData,
        seed: int,
        batch_size: int,
        device: torch.device,
    ) -> None:
        self.model = CompletionNet(config).to(device).train()
        self.train, self.val, self.batch_size, self.device = train, val, batch_size, device
        self.n_train, self.n_val = len(train), len(val.full)
        self.steps_per_epoch = math.ceil(len(train) / batch_size)
        self.generator = torch.Generator().manual_seed(seed)

    def parameter_groups(self) -> list[dict[str, Any]]:
        return [{"params": list(self.model.parameters())}]

    def batches(self, epoch: int) -> tuple[torch.Tensor, ...]:
        return torch.randperm(len(self.train), generator=self.generator).split(self.batch_size)

    def loss(self, index: torch.Tensor) -> torch.Tensor:
        gen, train = self.generator, self.train
        removed = removal_masks(train.n_strokes[index], gen, train.index.shape[1])
        partial, full = train.draw(index, ~removed), train.draw(index)
        flip = torch.rand(len(index), generator=gen) < 0.5
        partial = torch.where(flip[:, None, None, None], partial.flip(-1), partial)
        full = torch.where(flip[:, None, None, None], full.flip(-1), full)
        return self.model.loss(partial.to(self.device), full.to(self.device))

    def validate(self) -> Validation:
        val_gen = generate(self.model, self.val.partial)
        val_loss = float(F.binary_cross_entropy(val_gen.clamp(1e-6, 1 - 1e-6), self.val.full))
        thr, score = best_threshold(val_gen, self.val)
        return Validation(score, {"val_loss": round(val_loss, 5), "val_threshold": thr})


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
) -> Trained:
    """Train a `CompletionNet` on the strokes ``train`` (`StrokeInks` of the training sketches, drawn
    by ``config.renderer()``) as `CompletionTask` says; AdamW with a warm-up and a cosine over the
    epochs or ``max_minutes`` (whichever runs out first: training stops there). After each epoch
    ``val`` picks the threshold and the best epoch by removed-ink IoU. Returns the best model (its
    ``config.threshold`` the best epoch's) and the record; ``log`` gets each epoch's line."""
    loop = LoopConfig(
        epochs=epochs,
        lr=lr,
        optimiser="adamw",
        weight_decay=weight_decay,
        schedule=Schedule("cosine", WARMUP_STEPS),
        max_minutes=max_minutes,
        seed=seed,
        progress=progress,
    )
    dev = torch.device(device) if device is not None else torch.device("cpu")
    trained = fit(lambda: CompletionTask(config, train, val, seed, batch_size, dev), loop, log=log)
    record = trained.record
    threshold = record.figures["val_threshold"][record.best_epoch - 1]
    trained.model.config.threshold = threshold
    record.info.update(
        data="quickdraw-spg",
        train_split="train",
        val_split="val",
        max_minutes=max_minutes,
        batch_size=batch_size,
        lr=lr,
        remove_fraction=list(REMOVE_RANGE),
        threshold=threshold,
        train_seconds=record.wall_seconds,
    )
    record.config = trained.model.config.to_dict()
    return trained
