"""Training the stroke transformer on SPG: `StrokeTransformerTask` for the one loop (`fit`).

The sketches are prepared once into padded tensors, then each step slices a batch, augments it on
tensors (`strokelens.training.augment`) and takes an AdamW step (no weight decay on biases, norms
and the stroke order embedding) under a linear warm-up and a cosine. Extra training sketches
(quickdraw-345x25's and quickdraw-extra's drawings of the SPG classes) can be mixed in, repeated.
Runs are seeded: the same call gives the same weights.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.models.stroke_transformer import WEIGHTS_NAME, StrokeTransformer, StrokeTransformerConfig
from strokelens.sketch import Sketch
from strokelens.training.augment import AugmentConfig, augment, simplified_copies
from strokelens.training.distill import AugmentedTeacher, Distillation, FixedTeacherLogits, teacher_logits
from strokelens.training.loop import LoopConfig, Trained, Validation, fit
from strokelens.training.schedule import Schedule
from strokelens.training.sketch_data import bucketed_batches, evaluate, prepare_sketches
from strokelens.views.base import View

#: Epochs the CLI trains the default config for.
DEFAULT_EPOCHS = 20


class StrokeTransformerTask:
    """Classify sketches with label-smoothed cross-entropy, plus a teacher's soft targets with
    ``distill`` (its targets serve every one of ``sketches``; the last ``unlabelled`` sketches, of any
    class, learn from them alone); validation top-1 over every validation sketch pooled
    (``val_top1``; with several named sets also each set's, ``val_top1_by_set``)."""

    score = "val_top1"
    higher_is_better = True

    def __init__(
        self,
        config: StrokeTransformerConfig,
        sketches: Sequence[Sketch],
        class_names: list[str],
        val_sets: Mapping[str, Sequence[Sketch]],
        seed: int,
        batch_size: int,
        weight_decay: float,
        label_smoothing: float,
        augment_config: AugmentConfig | None,
        device: torch.device,
        distill: Distillation | None = None,
        unlabelled: int = 0,
    ) -> None:
        if distill is not None:
            distill.targets.check_rows(len(sketches))
        if unlabelled and distill is None:
            raise StrokelensError("sketches without a label train only on a teacher's targets (distill)")
        self.distill = distill
        self.model = StrokeTransformer(config, class_names)
        self.train = prepare_sketches(self.model, sketches, unlabelled=unlabelled)
        self.aug = augment_config
        self.simple = None
        if augment_config is not None and augment_config.simplify > 0:
            copies = simplified_copies(sketches, augment_config.simplify_epsilon, seed)
            self.simple = prepare_sketches(self.model, copies, unlabelled=unlabelled)
            if not torch.equal(self.simple.n_strokes, self.train.n_strokes):
                raise StrokelensError("simplification changed a sketch's stroke count")
        self.vals = {key: prepare_sketches(self.model, v) for key, v in val_sets.items()}
        self.device = device
        self.model.to(device).train()
        self.batch_size, self.weight_decay, self.label_smoothing = batch_size, weight_decay, label_smoothing
        self.steps_per_epoch = math.ceil(len(self.train) / batch_size)
        self.n_train = len(self.train)
        self.n_val = (
            {k: len(v) for k, v in self.vals.items()} if len(self.vals) > 1 else len(*self.vals.values())
        )
        self.generator = torch.Generator().manual_seed(seed)

    def parameter_groups(self) -> list[dict[str, Any]]:
        named = list(self.model.named_parameters())
        decay = [p for n, p in named if p.ndim >= 2 and n not in ("order",)]
        no_decay = [p for n, p in named if not (p.ndim >= 2 and n not in ("order",))]
        return [
            {"params": decay, "weight_decay": self.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def batches(self, epoch: int) -> list[torch.Tensor]:
        return bucketed_batches(self.train.n_strokes, self.batch_size, self.generator)

    def loss(self, index: torch.Tensor) -> torch.Tensor:
        pts, sid, lab = self.train.batch(index)
        presence = None
        if self.aug is not None:
            if self.simple is not None:
                use = torch.rand(len(index), generator=self.generator) < self.aug.simplify
                pts = torch.where(use[:, None, None], self.simple.batch(index)[0], pts)
            pts, presence = augment(pts, sid, self.generator, self.aug, self.train.points_per_stroke)
            presence = presence.to(self.device)
        logits = self.model(pts.to(self.device), sid.to(self.device), presence)
        lab = lab.to(self.device)
        if self.distill is None:
            return F.cross_entropy(logits, lab, label_smoothing=self.label_smoothing)
        known = lab >= 0  # transfer sketches (-1) learn from the teacher alone
        loss = self.distill.loss(logits, index, pts, sid, presence)
        if known.any():
            ce = F.cross_entropy(logits[known], lab[known], label_smoothing=self.label_smoothing)
            loss = loss + ce * known.float().mean()
        return loss

    def validate(self) -> Validation:
        accs = {key: evaluate(self.model, v) for key, v in self.vals.items()}
        pooled = sum(accs[k] * len(v) for k, v in self.vals.items()) / sum(len(v) for v in self.vals.values())
        by_set = {"val_top1_by_set": {k: round(v, 5) for k, v in accs.items()}} if len(accs) > 1 else {}
        return Validation(pooled, by_set)


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
    teacher: View | None = None,
    transfer: Sequence[Sketch] = (),
    distill_weight: float = 1.0,
    temperature: float = 2.0,
    teacher_sees_augmented: bool = False,
    device: torch.device | str | None = None,
    name: str = WEIGHTS_NAME,
) -> Trained:
    """Train a `StrokeTransformer` with AdamW, a warm-up and a cosine; keep the best validation epoch.

    ``extra_train`` sketches join the training set ``extra_repeat`` times each (each repeat augmented
    anew). With a ``teacher`` (a view of a model that knows every class), every training sketch also
    learns the teacher's soft targets (`strokelens.training.distill`, ``distill_weight`` and
    ``temperature``), and the ``transfer`` sketches, of any class, join the training set learning
    from them alone; ``teacher_sees_augmented``: the teacher reads each augmented batch as the
    student sees it (`AugmentedTeacher`) instead of each sketch once as it is. ``val_sketches`` may
    be several named sets: the best epoch is then the one with the best top-1 over all their
    sketches pooled. Pooled, not the mean of the sets' figures: a small set (30 drawings) would make
    the choice a coin toss. Writes ``name.safetensors`` + ``name.json`` (config, class names) and the
    record as ``metrics.json`` to ``out_dir`` (unless None).
    """
    if extra_repeat < 1:
        raise StrokelensError(f"extra_repeat must be at least 1, got {extra_repeat}")
    loop = LoopConfig(
        epochs=epochs,
        lr=lr,
        optimiser="adamw",
        weight_decay=weight_decay,
        schedule=Schedule("cosine", warmup_steps, warmup_then_cosine=True),
        clip_grad_norm=1.0,
        seed=seed,
        progress=progress,
    )
    aug = augment_config or AugmentConfig()
    class_names = sorted({str(s.label) for s in train_sketches})
    if len(class_names) != config.n_classes:
        raise StrokelensError(f"training data has {len(class_names)} classes, config says {config.n_classes}")
    if transfer and teacher is None:
        raise StrokelensError("transfer sketches need a teacher: they learn from its soft targets alone")
    sketches = [*train_sketches, *(list(extra_train) * extra_repeat), *transfer]
    if teacher_sees_augmented and teacher is None:
        raise StrokelensError("teacher_sees_augmented needs a teacher")
    distill = None
    if teacher_sees_augmented:
        distill = Distillation(AugmentedTeacher(teacher, class_names), distill_weight, temperature)
    elif teacher is not None:
        logits = FixedTeacherLogits(teacher_logits(teacher, sketches, class_names))
        distill = Distillation(logits, distill_weight, temperature)
    val_sets = dict(val_sketches) if isinstance(val_sketches, Mapping) else {"val": val_sketches}
    dev = torch.device(device) if device is not None else torch.device("cpu")
    trained = fit(
        lambda: StrokeTransformerTask(
            config,
            sketches,
            class_names,
            val_sets,
            seed,
            batch_size,
            weight_decay,
            label_smoothing,
            aug if use_augment else None,
            dev,
            distill,
            len(transfer),
        ),
        loop,
    )
    record = trained.record
    record.info.update(
        batch_size=batch_size,
        lr=lr,
        n_extra_train=len(extra_train),
        extra_repeat=extra_repeat,
        augment=aug.to_dict() if use_augment else None,
    )
    if distill is not None:
        record.info["distillation"] = {
            "teacher_classes": len(teacher.class_names),
            "weight": distill_weight,
            "temperature": temperature,
            "n_transfer": len(transfer),
            "teacher_sees": "augmented batches" if teacher_sees_augmented else "each sketch as it is",
        }
    record.config = config.to_dict()
    if out_dir is not None:
        out = Path(out_dir)
        trained.model.save(
            out, name, extra={"training": {"seed": seed, "epochs": epochs, "best_epoch": record.best_epoch}}
        )
        record.write(out / "metrics.json")
    return trained
