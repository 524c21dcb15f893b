"""The one training loop: best epoch kept, early stop, time budget, non-finite steps, config checks,
the record's JSON, the schedules and seeding."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from strokelens.errors import StrokelensError
from strokelens.training import LoopConfig, Schedule, TrainingRecord, Validation, fit

pytestmark = pytest.mark.usefixtures("one_thread")


class ToyTask:
    """Fit y = 2x with a 1x1 linear layer; validation scores come from ``scores`` (one per epoch)
    when given, else the validation MSE. ``bad`` steps (by global step index) get a NaN loss."""

    score = "val_loss"
    higher_is_better = False

    def __init__(self, scores=None, bad=(), steps=4) -> None:
        self.model = nn.Linear(1, 1)
        self.x = torch.linspace(-1, 1, 8 * steps)[:, None]
        self.steps_per_epoch = steps
        self.scores, self.bad, self.step = list(scores or []), set(bad), 0
        self.n_train, self.n_val = len(self.x), len(self.x)
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def parameter_groups(self):
        return [{"params": list(self.model.parameters())}]

    def batches(self, epoch):
        return self.x.split(8)

    def loss(self, x):
        self.step += 1
        loss = ((self.model(x) - 2 * x) ** 2).mean()
        return loss * float("nan") if self.step in self.bad else loss

    def validate(self):
        self.snapshots.append({k: v.clone() for k, v in self.model.state_dict().items()})
        mse = float(((self.model(self.x) - 2 * self.x) ** 2).mean())
        score = self.scores[len(self.snapshots) - 1] if self.scores else mse
        return Validation(score, {"val_mse": round(mse, 6), "by_set": {"a": 1.0, "b": 2.0}})


def quiet(**kwargs) -> LoopConfig:
    return LoopConfig(**{"lr": 0.05, "progress": False, **kwargs})


def test_early_stopping_keeps_the_best_epoch():
    task = ToyTask(scores=[3.0, 1.0, 2.0, 4.0, 0.5, 0.1])
    trained = fit(task, quiet(epochs=6, patience=2))
    record = trained.record
    assert record.stopped == "early stop" and record.epochs_run == 4 and record.best_epoch == 2
    assert record.best_score == 1.0 and record.scores == [3.0, 1.0, 2.0, 4.0]
    for key, value in trained.model.state_dict().items():
        assert torch.equal(value, task.snapshots[1][key])  # epoch 2's weights, not the last epoch's
    assert not trained.model.training and record.steps == 4 * 4


def test_without_patience_every_epoch_runs_and_higher_can_be_better():
    task = ToyTask(scores=[1.0, 3.0, 2.0])
    task.higher_is_better = True
    record = fit(task, quiet(epochs=3)).record
    assert record.stopped == "epochs" and record.epochs_run == 3 and record.best_epoch == 2


def test_the_time_budget_stops_at_the_step_that_uses_it_up():
    record = fit(ToyTask(), quiet(epochs=50, max_minutes=1e-9)).record
    assert record.stopped == "time limit" and record.steps == 1 and record.epochs_run == 1
    assert record.best_epoch == 1  # the cut epoch is still validated


def test_non_finite_steps_are_skipped_and_counted():
    task = ToyTask(bad={2, 7})
    trained = fit(task, quiet(epochs=3, clip_grad_norm=1.0))
    assert trained.record.skipped_steps == 2 and trained.record.steps == 12
    assert all(torch.isfinite(p).all() for p in trained.model.parameters())
    assert trained.record.train_loss[-1] < trained.record.train_loss[0]
    with pytest.raises(StrokelensError, match="diverged: no step of epoch 2"):
        fit(ToyTask(bad={5, 6, 7, 8}), quiet(epochs=3))


def test_a_step_with_a_non_finite_gradient_is_skipped():
    class BadGradient(ToyTask):
        def loss(self, x):
            loss = super().loss(x)
            if self.step == 1:  # finite loss, non-finite gradient (d sqrt(u) / du at 0)
                loss = loss + (self.model.bias * 0).sqrt().sum()
            return loss

    task = BadGradient()
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    trained = fit(task, quiet(epochs=1, clip_grad_norm=1.0))
    assert trained.record.skipped_steps == 1 and len(trained.record.train_loss) == 1
    assert all(torch.isfinite(p).all() for p in trained.model.parameters())
    assert not torch.equal(before["weight"], trained.model.weight)


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"lr": 0.0},
        {"lr": float("nan")},
        {"optimiser": "sgd"},
        {"weight_decay": -1.0},
        {"clip_grad_norm": 0.0},
        {"patience": 0},
        {"max_minutes": 0.0},
        {"schedule": "cosine"},
    ],
)
def test_bad_config_raises(bad):
    with pytest.raises(StrokelensError):
        LoopConfig(**bad)


def test_bad_schedule_raises():
    with pytest.raises(StrokelensError, match="unknown schedule"):
        Schedule("linear")
    with pytest.raises(StrokelensError, match="warmup_steps"):
        Schedule(warmup_steps=-1)


def test_the_record_round_trips_json(tmp_path):
    record = fit(ToyTask(), quiet(epochs=2)).record
    record.info.update(kind="toy", data="x")
    record.config = {"width": 1}
    data = json.loads(json.dumps(record.to_dict()))
    assert data["val_loss"] == record.scores and data["best_val_loss"] == record.best_score
    assert data["val_mse"] == record.figures["val_mse"] and data["by_set"] == {
        "a": [1.0, 1.0],
        "b": [2.0, 2.0],
    }
    assert data["kind"] == "toy" and data["epochs_run"] == 2 and data["loop"]["lr"] == 0.05
    assert TrainingRecord.from_dict(data) == record
    record.write(tmp_path / "r" / "run.training.json")
    assert TrainingRecord.read(tmp_path / "r" / "run.training.json") == record
    with pytest.raises(StrokelensError, match="not a training record"):
        TrainingRecord.from_dict({"seed": 0})


def test_the_same_seed_gives_the_same_weights():
    runs = [fit(ToyTask, quiet(epochs=2, seed=7)).model.state_dict() for _ in range(2)]
    other = fit(ToyTask, quiet(epochs=2, seed=8)).model.state_dict()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])  # the factory builds after seeding
    assert not torch.equal(runs[0]["weight"], other["weight"])


def test_schedules_keep_each_models_original_arithmetic():
    """The formulas the stroke transformer, explainer and completion loops had, to the last bit."""
    total, w = 50, 10
    st = Schedule("cosine", w, warmup_then_cosine=True)
    for step in range(total):
        old = (step + 1) / w if step < w else 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))
        assert st.lr(2e-3, step, total) == 2e-3 * old
    for step in range(total):
        assert Schedule("cosine").lr(3e-3, step, total) == 3e-3 * 0.5 * (
            1 + math.cos(math.pi * min(step / total, 1.0))
        )
        done = max(step / total, 0.9)
        assert Schedule("cosine").lr(3e-3, step, total, 0.9) == 3e-3 * 0.5 * (1 + math.cos(math.pi * done))
        completion = 2e-3 * min(1.0, (step + 1) / w) * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))
        assert Schedule("cosine", w).lr(2e-3, step, total) == completion
    assert Schedule("constant").lr(1e-3, 7, total, 2.0) == 1e-3
    assert st.lr(1.0, total - 1, total, 1.0) == 0.0  # the time budget ends the cosine


def test_an_explainer_trains_the_same_twice(home, doodlenet):
    """Explainer training is seeded: the same call gives the same weights and record."""
    from strokelens.datasets import load_spg
    from strokelens.explainers import Explainer, TrainConfig, train_explainer
    from strokelens.views import view_for

    view = view_for(doodlenet)
    train = view.prepare(load_spg("train", per_class=1, home=home))
    val = view.prepare(load_spg("val", per_class=1, home=home))[:8]
    states, losses = [], []
    for _ in range(2):
        torch.manual_seed(0)
        explainer = Explainer.create(view, "fastshap", "doodlenet", d_model=16, n_layers=1, d_ff=16)
        record = train_explainer(
            view, explainer, train, val, TrainConfig(epochs=2, batch_size=32), progress=False
        )
        states.append(explainer.net.state_dict())
        losses.append(record.train_loss)
    assert losses[0] == losses[1] and all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert (
        explainer.info.training["kind"] == "fastshap" and explainer.info.training["val_loss"] == record.scores
    )


def test_the_shipped_training_records_read():
    """The records the older loops wrote beside the shipped weights read as `TrainingRecord`s."""
    from strokelens.explainers.explainer import SHIPPED_DIR
    from strokelens.models.stroke_transformer import WEIGHTS_DIR

    paths = sorted([*SHIPPED_DIR.glob("*.training.json"), *WEIGHTS_DIR.glob("*.training.json")])
    assert len(paths) >= 10
    for path in paths:
        record = TrainingRecord.read(path)
        assert record.epochs_run >= 1 and 1 <= record.best_epoch <= record.epochs_run, path
        assert len(record.scores) == record.epochs_run
        assert min(abs(record.best_score - s) for s in record.scores) < 1e-4, path
