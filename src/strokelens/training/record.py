"""`TrainingRecord`: what one training run did, written as JSON beside the weights it made."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from strokelens.errors import StrokelensError


@dataclass
class TrainingRecord:
    """Per-epoch losses and validation figures, the best epoch, why it stopped, time and sizes.

    ``score`` names the validation figure that picks the best epoch (``val_loss``, ``val_top1``, ...):
    its per-epoch values are ``scores``, written under that name, and the best under ``best_<score>``.
    ``figures`` are the other per-epoch validation figures (a figure may be a dict of per-set lists).
    ``info`` is the task's own (settings, data sizes, results added after training), written flat
    beside the rest, so the JSON keys are those the records always had.
    """

    score: str
    higher_is_better: bool
    seed: int
    epochs: int
    n_train: int
    n_val: int | dict[str, int]
    train_loss: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    best_score: float | None = None
    stopped: str = "epochs"
    steps: int = 0
    #: Steps whose loss or gradient was not finite, skipped (no update).
    skipped_steps: int = 0
    wall_seconds: float = 0.0
    #: Process CPU time, all threads (robust to a busy machine).
    cpu_seconds: float = 0.0
    threads: int = 0
    device: str = "cpu"
    #: The loop's settings (`LoopConfig.to_dict`).
    loop: dict[str, Any] = field(default_factory=dict)
    #: The model's (or explainer's) configuration.
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def better(self, score: float) -> bool:
        """Whether ``score`` (finite) beats the best so far."""
        if not math.isfinite(score):
            return False
        if self.best_score is None:
            return True
        return score > self.best_score if self.higher_is_better else score < self.best_score

    def add_epoch(self, train_loss: float, score: float, figures: Mapping[str, Any]) -> None:
        """Append one epoch's mean training loss, score and other figures."""
        self.train_loss.append(round(train_loss, 6))
        self.scores.append(round(score, 6))
        for name, value in figures.items():
            if isinstance(value, Mapping):
                slot = self.figures.setdefault(name, {})
                for key, item in value.items():
                    slot.setdefault(key, []).append(item)
            else:
                self.figures.setdefault(name, []).append(value)
        self.epochs_run = len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the task's info, then the run's figures under their own names."""
        out: dict[str, Any] = {"seed": self.seed, "epochs": self.epochs, **self.info}
        out.update(n_train=self.n_train, n_val=self.n_val, train_loss=self.train_loss)
        out[self.score] = self.scores
        out.update(self.figures)
        out.update(best_epoch=self.best_epoch, **{f"best_{self.score}": self.best_score})
        for name in ("epochs_run", "stopped", "steps", "skipped_steps", "wall_seconds", "cpu_seconds"):
            out[name] = getattr(self, name)
        out.update(threads=self.threads, device=self.device, loop=self.loop, config=self.config)
        out["validation"] = {
            "score": self.score,
            "higher_is_better": self.higher_is_better,
            "figures": list(self.figures),
        }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingRecord:
        """Read `to_dict`'s form back (or a record the older loops wrote, which lacks ``validation``)."""
        data = dict(data)
        if "validation" not in data:
            data["validation"] = _older_validation(data)
            config = data.get("config") if isinstance(data.get("config"), dict) else {}
            data.setdefault("seed", config.get("seed", 0))
            data.setdefault("epochs_run", len(data.get("train_loss", ())))
            data.setdefault("epochs", config.get("epochs", data["epochs_run"]))
        try:
            validation = data.pop("validation")
            score = validation["score"]
            kwargs: dict[str, Any] = {
                "score": score,
                "higher_is_better": bool(validation["higher_is_better"]),
                "scores": data.pop(score),
                "best_score": data.pop(f"best_{score}"),
                "figures": {name: data.pop(name) for name in validation["figures"]},
            }
            for f in fields(cls):
                if f.name not in kwargs and f.name != "info" and f.name in data:
                    kwargs[f.name] = data.pop(f.name)
        except (KeyError, TypeError) as exc:
            raise StrokelensError(f"not a training record: missing {exc}") from None
        return cls(**kwargs, info=data)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON form to ``path`` (folders made as needed)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> TrainingRecord:
        """Read a record `write` wrote."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise StrokelensError(f"{path}: cannot read the training record ({exc})") from None


#: The records the three loops wrote before `TrainingRecord`, by score: whether a higher score was
#: better, and their per-epoch figures.
_OLDER: dict[str, tuple[bool, tuple[str, ...]]] = {
    "val_iou": (True, ("val_loss", "val_threshold")),
    "val_top1": (True, ("val_top1_by_set",)),
    "val_loss": (False, ()),
}


def _older_validation(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``validation`` entry of a record written before it existed (explainer, stroke transformer
    or completion model), from the keys it has."""
    for score, (higher_is_better, figures) in _OLDER.items():
        if score in data and f"best_{score}" in data:
            return {
                "score": score,
                "higher_is_better": higher_is_better,
                "figures": [name for name in figures if name in data],
            }
    raise StrokelensError("not a training record: no validation score (val_loss, val_top1, val_iou)")
