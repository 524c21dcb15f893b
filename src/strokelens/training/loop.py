"""The one training loop: `fit(task, config)` trains any `Task` and returns the model and its record.

Per step: the task's loss on one batch, the schedule's learning rate, a gradient step (clipped); a
step whose loss or gradient norm is not finite is skipped and counted, and an epoch without one finite
step is an error. Per epoch: the task's validation score; the best epoch's weights are kept and put
back at the end. Training stops after ``epochs``, after ``patience`` epochs without a better score,
or at the step that uses up ``max_minutes``. Seeded: torch's global generator is seeded before the
task is built, so the same task and config give the same weights on the same machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from strokelens.errors import StrokelensError
from strokelens.training.progress import TrainingProgress
from strokelens.training.record import TrainingRecord
from strokelens.training.schedule import Schedule

OPTIMISERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass(frozen=True)
class LoopConfig:
    """Settings of `fit`. Bad values raise `StrokelensError`."""

    epochs: int = 20
    #: Peak learning rate (see ``schedule``).
    lr: float = 2e-3
    #: ``adam`` or ``adamw``.
    optimiser: str = "adamw"
    #: Weight decay of parameter groups that do not set their own.
    weight_decay: float = 0.0
    schedule: Schedule = field(default_factory=Schedule)
    #: Clip the gradient norm of the trained parameters to this (None: no clipping).
    clip_grad_norm: float | None = None
    #: Stop after this many epochs without a better validation score (None: never early).
    patience: int | None = None
    #: Stop at the step that passes this many minutes (the cosine ends there); None: no limit.
    max_minutes: float | None = None
    seed: int = 0
    progress: bool = True
    #: What the progress bar and errors call the run.
    label: str = "training"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise StrokelensError(f"epochs must be at least 1, got {self.epochs}")
        if not self.lr > 0:
            raise StrokelensError(f"lr must be positive, got {self.lr}")
        if self.optimiser not in OPTIMISERS:
            raise StrokelensError(
                f"unknown optimiser {self.optimiser!r}; expected one of {', '.join(OPTIMISERS)}"
            )
        if not self.weight_decay >= 0:
            raise StrokelensError(f"weight_decay must be at least 0, got {self.weight_decay}")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise StrokelensError(f"clip_grad_norm must be positive, got {self.clip_grad_norm}")
        if self.patience is not None and self.patience < 1:
            raise StrokelensError(f"patience must be at least 1, got {self.patience}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise StrokelensError(f"max_minutes must be positive, got {self.max_minutes}")
        if not isinstance(self.schedule, Schedule):
            raise StrokelensError(f"schedule must be a Schedule, got {type(self.schedule).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Validation:
    """One epoch's validation: the ``score`` that picks the best epoch and other figures to record
    (a figure may be a dict, e.g. per validation set)."""

    score: float
    figures: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """What `fit` trains: a model, its batches, its loss and its validation."""

    #: The module whose weights are kept at the best epoch (its trainable parameters are trained).
    model: nn.Module
    #: Batches `batches` yields each epoch (sizes the schedule and the bar).
    steps_per_epoch: int
    #: Name of the validation score in the record (``val_loss``, ``val_top1``, ...).
    score: str
    higher_is_better: bool
    n_train: int
    n_val: int | dict[str, int]

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's parameter groups (a group may set its own ``weight_decay``)."""
        ...

    def batches(self, epoch: int) -> Iterable[Any]:
        """The batches of epoch ``epoch`` (from 1), in order."""
        ...

    def loss(self, batch: Any) -> torch.Tensor:
        """The training loss of one batch (a scalar with a graph)."""
        ...

    def validate(self) -> Validation:
        """Score the model (in eval mode, without gradients)."""
        ...


@dataclass
class Trained:
    """`fit`'s result: the model with the best epoch's weights (in eval mode) and the record."""

    model: nn.Module
    record: TrainingRecord


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(
    task: Task | Callable[[], Task], config: LoopConfig, *, log: Callable[[str], None] | None = None
) -> Trained:
    """Train ``task`` (or the task a callable builds, after seeding: its initial weights then come
    from the seed) as ``config`` says. ``log`` gets each epoch's line (default: the progress bar's
    console when the bar is on)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(config.seed)
    if isinstance(task, type) or not hasattr(task, "loss"):  # a class or function that builds one
        task = task()
    model = task.model
    trained = [p for p in model.parameters() if p.requires_grad]
    optimiser = OPTIMISERS[config.optimiser](
        task.parameter_groups(), lr=config.lr, weight_decay=config.weight_decay
    )
    total = config.epochs * task.steps_per_epoch
    budget = None if config.max_minutes is None else 60 * config.max_minutes
    record = TrainingRecord(
        score=task.score,
        higher_is_better=task.higher_is_better,
        seed=config.seed,
        epochs=config.epochs,
        n_train=task.n_train,
        n_val=task.n_val,
        threads=torch.get_num_threads(),
        device=str(next(model.parameters()).device),
        loop=config.to_dict(),
    )
    best_state, bad_epochs, step = _state(model), 0, 0
    train_start = time.perf_counter()
    with TrainingProgress(config.label, total, config.progress, log) as progress:
        for epoch in range(1, config.epochs + 1):
            model.train()
            losses: list[float] = []
            for batch in task.batches(epoch):
                loss = task.loss(batch)
                elapsed = None if budget is None else (time.perf_counter() - train_start) / budget
                for group in optimiser.param_groups:
                    group["lr"] = config.schedule.lr(config.lr, step, total, elapsed)
                step += 1
                optimiser.zero_grad(set_to_none=True)
                if _update(loss, trained, optimiser, config.clip_grad_norm):
                    losses.append(float(loss.detach()))
                    progress.step(f"epoch {epoch}/{config.epochs} loss {sum(losses) / len(losses):.4f}")
                else:
                    record.skipped_steps += 1
                    progress.step(f"epoch {epoch}/{config.epochs} ({record.skipped_steps} skipped)")
                if budget is not None and time.perf_counter() - train_start > budget:
                    record.stopped = "time limit"
                    break
            if not losses:
                raise StrokelensError(
                    f"{config.label} diverged: no step of epoch {epoch} had a finite loss (try a lower lr)"
                )
            model.eval()
            with torch.no_grad():
                val = task.validate()
            train_loss = sum(losses) / len(losses)
            record.add_epoch(train_loss, val.score, val.figures)
            progress.line(_line(epoch, train_loss, task.score, val, record, time.perf_counter() - start))
            if record.better(val.score):
                record.best_score, record.best_epoch, bad_epochs = val.score, epoch, 0
                best_state = _state(model)
            else:
                bad_epochs += 1
                if config.patience is not None and bad_epochs >= config.patience:
                    record.stopped = "early stop"
                    break
            if record.stopped == "time limit":
                break
    model.load_state_dict(best_state)
    model.eval()
    record.steps = step
    record.wall_seconds = round(time.perf_counter() - start, 1)
    record.cpu_seconds = round(time.process_time() - cpu_start, 1)
    return Trained(model, record)


def _update(
    loss: torch.Tensor, params: list[torch.Tensor], optimiser: torch.optim.Optimizer, clip: float | None
) -> bool:
    """One gradient step on ``loss``; False (no step) when the loss or the gradient norm is not finite."""
    if not torch.isfinite(loss):
        return False
    loss.backward()
    if clip is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        if not torch.isfinite(norm):  # an overflowing gradient would turn the weights into NaN
            return False
    optimiser.step()
    return True


def _line(
    epoch: int, loss: float, score: str, val: Validation, record: TrainingRecord, seconds: float
) -> str:
    """One epoch's summary."""
    parts = [f"epoch {epoch}: loss {loss:.4f}", f"{score} {val.score:.4f}"]
    for name, value in val.figures.items():
        if isinstance(value, dict):
            parts.extend(f"{name} {k} {v:.4f}" for k, v in value.items() if isinstance(v, float))
        elif isinstance(value, float) and math.isfinite(value):
            parts.append(f"{name} {value:.4f}")
    if record.skipped_steps:
        parts.append(f"({record.skipped_steps} non-finite steps skipped)")
    parts.append(f"{seconds:.0f}s")
    return "  ".join(parts)
