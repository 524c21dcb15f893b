"""Training a learned explainer for a frozen explanandum, on unlabelled drawings or photos.

The labels are the explanandum's own predictions (each batch's game resolves ``target="auto"``),
so any sketches or photos train it. Each epoch shuffles the training inputs (seeded), takes Adam
steps on the explainer's objective (`strokelens.explainers.objectives`), then scores the validation
inputs with the same objective and a fixed seed; the best epoch's weights are kept, and training stops
early after ``patience`` epochs without improvement or when ``max_minutes`` have passed. The
learning rate follows a cosine from ``lr`` to 0 over whichever comes first, the epochs or the minutes,
so a run cut by the time limit still ends annealed.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from PIL import Image

from strokelens.errors import StrokelensError
from strokelens.explainers.explainer import Explainer, empty_outputs
from strokelens.explainers.objectives import WysWeights, fastshap_loss, wys_loss
from strokelens.photo import CropTransform, Photo
from strokelens.views.base import View
from strokelens.views.image import ImageView


@dataclass
class TrainConfig:
    """Settings of `train_explainer`. Each shipped explainer's training record holds the settings it
    was trained with."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    #: ``cosine`` (from ``lr`` to 0 over the epochs or ``max_minutes``) or ``constant``.
    schedule: str = "cosine"
    weight_decay: float = 0.0
    patience: int = 3
    seed: int = 0
    #: Stop after this many minutes of training (the epoch under way finishes); None: no limit.
    max_minutes: float | None = None
    #: FastSHAP: kernel coalitions per input and step, each paired with its complement.
    pairs: int = 8
    #: FastSHAP: extra weight of the target class's error beside the mean over all classes (the
    #: predicted class is the one explained). Not settled by measurement: the shipped DoodleNet
    #: explainer used 1; a shorter run at 5 did no better (see its training record).
    target_weight: float = 5.0
    wys: WysWeights = field(default_factory=WysWeights)
    #: Photos: flip at random, and draw the SLIC superpixel count from this range each time.
    augment: bool = True
    segments: tuple[int, int] = (8, 50)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.pairs < 1 or self.patience < 1:
            raise StrokelensError("epochs, batch_size, pairs and patience must be at least 1")
        if not self.lr > 0:
            raise StrokelensError(f"lr must be positive, got {self.lr}")
        if self.schedule not in ("cosine", "constant"):
            raise StrokelensError(f"unknown schedule {self.schedule!r}; expected cosine or constant")


@dataclass
class TrainRecord:
    """What a training run did: per-epoch losses, the best epoch, time and data sizes."""

    kind: str
    n_train: int
    n_val: int
    epochs_run: int = 0
    best_epoch: int = 0
    best_val_loss: float = math.inf
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    stopped: str = "epochs"
    #: Steps whose loss was not finite, skipped (no update); an epoch with no finite step is an error.
    skipped_steps: int = 0
    wall_seconds: float = 0.0
    threads: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _model_input(photo: Photo, size: int) -> Photo:
    """``photo`` centre-cropped and resized to the model input once, so each epoch starts there."""
    t = CropTransform.centre(*photo.size, size)
    image = Image.fromarray((t.apply(photo.image) * 255).round().astype("uint8"))
    return Photo(image, photo.source, photo.id)


def _mirrored(photo: Photo) -> Photo:
    return Photo(photo.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), photo.source, photo.id)


class _Batches:
    """Inputs of one kind (sketches or photos) turned into games, batch by batch."""

    def __init__(self, view: View, explainer: Explainer, config: TrainConfig) -> None:
        self.view, self.explainer, self.config = view, explainer, config
        self.photos = isinstance(view, ImageView)

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        if self.photos:
            return [_model_input(p, self.view.input_size or 224) for p in inputs]
        return self.view.prepare(inputs)

    def game(self, inputs: Sequence[Any], rng: random.Random, train: bool):
        options = dict(self.explainer.info.unit_options)
        if self.photos:
            if train and self.config.augment:
                inputs = [_mirrored(p) if rng.random() < 0.5 else p for p in inputs]
                options["n_segments"] = rng.randint(*self.config.segments)
        else:
            options["kind"] = self.explainer.info.units
        units = self.view.units_for(list(inputs), **options)
        return self.view.game(units, "auto", self.explainer.info.score)


def _null_outputs(view: View, explainer: Explainer, sample: Any) -> torch.Tensor | None:
    """The explanandum's outputs on the empty input, when it is the same for every input."""
    if not view.empty_is_constant:
        return None
    game = view.game(view.units_for([sample], kind=explainer.info.units), "auto")
    with torch.no_grad():
        return empty_outputs(game)[0].cpu()


def train_explainer(
    view: View,
    explainer: Explainer,
    train_inputs: Sequence[Any],
    val_inputs: Sequence[Any],
    config: TrainConfig | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainRecord:
    """Train ``explainer`` (from `Explainer.create`) for ``view``'s frozen model in place; returns
    the record (also stored in ``explainer.info.training``). Seeded: the same call gives the same
    weights on the same machine."""

    config = config or TrainConfig()
    if len(train_inputs) < 1 or len(val_inputs) < 1:
        raise StrokelensError("training an explainer needs at least one training and one validation input")
    kind = explainer.info.kind
    if kind == "wys" and not view.outputs_are_logits:
        raise StrokelensError("a wys explainer needs a model whose outputs are class logits")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    batches = _Batches(view, explainer, config)
    train_set, val_set = batches.prepare(train_inputs), batches.prepare(val_inputs)
    explainer.null_outputs = _null_outputs(view, explainer, train_set[0])
    frozen = [(p, p.requires_grad) for p in view.model.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    try:
        return _train(view, explainer, train_set, val_set, config, batches, rng, progress, on_epoch)
    finally:  # the explanandum is the caller's: its parameters keep their flags
        for p, flag in frozen:
            p.requires_grad_(flag)


def _train(view, explainer, train_set, val_set, config, batches, rng, progress, on_epoch) -> TrainRecord:
    from tqdm.auto import tqdm

    kind = explainer.info.kind
    net = explainer.net
    params = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    record = TrainRecord(
        kind=kind,
        n_train=len(train_set),
        n_val=len(val_set),
        threads=torch.get_num_threads(),
        config=asdict(config),
    )
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    start = time.perf_counter()
    bad_epochs = 0
    steps_per_epoch = -(-len(train_set) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    step = 0

    def set_lr() -> None:
        if config.schedule == "constant":
            return
        done = step / total_steps
        if config.max_minutes is not None:
            done = max(done, (time.perf_counter() - start) / (60 * config.max_minutes))
        for group in optimiser.param_groups:
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))

    for epoch in range(1, config.epochs + 1):
        net.train()
        order = list(range(len(train_set)))
        rng.shuffle(order)
        steps = range(0, len(order), config.batch_size)
        bar = tqdm(steps, desc=f"{kind} epoch {epoch}", disable=not progress, leave=False, unit="batch")
        losses = []
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        for i in bar:
            game = batches.game([train_set[j] for j in order[i : i + config.batch_size]], rng, train=True)
            loss = _loss(explainer, game, config, generator)
            set_lr()
            step += 1
            optimiser.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                record.skipped_steps += 1
                continue
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, 5.0)
            if not torch.isfinite(norm):  # an overflowing gradient would turn the weights into NaN
                record.skipped_steps += 1
                continue
            optimiser.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
        if not losses:
            raise StrokelensError(
                f"{kind} training diverged: no step of epoch {epoch} had a finite loss (try a lower lr)"
            )
        val = validation_loss(view, explainer, val_set, config, batches)
        train_loss = sum(losses) / len(losses)
        record.train_loss.append(round(train_loss, 6))
        record.val_loss.append(round(val, 6))
        record.epochs_run = epoch
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val)
        if progress:
            skipped = f" ({record.skipped_steps} non-finite steps skipped)" if record.skipped_steps else ""
            tqdm.write(
                f"{kind} epoch {epoch}: train loss {train_loss:.4f}, validation loss {val:.4f}{skipped}"
            )
        if math.isfinite(val) and val < record.best_val_loss:
            record.best_val_loss, record.best_epoch, bad_epochs = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience:
                record.stopped = "early stop"
                break
        if config.max_minutes is not None and time.perf_counter() - start > 60 * config.max_minutes:
            record.stopped = "time limit"
            break
    net.load_state_dict(best_state)
    net.eval()
    record.wall_seconds = round(time.perf_counter() - start, 1)
    explainer.info.training = record.to_dict()
    return record


def _loss(explainer: Explainer, game, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    out = explainer.unit_outputs(game.units)
    if explainer.info.kind == "fastshap":
        null = explainer.null_scores(game)
        return fastshap_loss(game, out, null, config.pairs, config.target_weight, generator)
    return wys_loss(game, out, config.wys)["total"]


def validation_loss(
    view: View,
    explainer: Explainer,
    val_set: Sequence[Any],
    config: TrainConfig,
    batches: _Batches | None = None,
) -> float:
    """The training objective on ``val_set`` with fixed coalitions (mean over inputs)."""
    batches = batches or _Batches(view, explainer, config)
    explainer.net.eval()
    generator = torch.Generator().manual_seed(12345)
    rng = random.Random(12345)
    total, count = 0.0, 0
    for i in range(0, len(val_set), config.batch_size):
        chunk = val_set[i : i + config.batch_size]
        game = batches.game(chunk, rng, train=False)
        with torch.no_grad():
            total += float(_loss(explainer, game, config, generator)) * len(chunk)
        count += len(chunk)
    return total / count
