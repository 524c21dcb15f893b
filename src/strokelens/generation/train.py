"""Training the sketch completion model on the SPG train split, selected on val."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.generation.data import REMOVE_RANGE, CompletionData, StrokeInks, removal_masks
from strokelens.generation.quality import best_threshold, generate
from strokelens.models.completion import CompletionConfig, CompletionNet


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
