"""Training: one loop (`fit`) for every model strokelens trains, each model a small `Task`.

- `loop`: `fit(task, LoopConfig) -> Trained`, the `Task` protocol and `Validation`.
- `schedule`: the learning rate per step (`Schedule`).
- `record`: `TrainingRecord`, what a run did, as JSON beside the weights.
- `progress`: the one progress bar.
- `stroke_transformer`, `sketch_data`, `augment`: the stroke transformer's task, data and augmentation.

The learned explainers' task is `strokelens.explainers.train.ExplainerTask`, the completion model's
`strokelens.generation.train.CompletionTask`.
"""

from strokelens.training.loop import LoopConfig, Task, Trained, Validation, fit
from strokelens.training.record import TrainingRecord
from strokelens.training.schedule import Schedule

__all__ = ["LoopConfig", "Schedule", "Task", "Trained", "TrainingRecord", "Validation", "fit"]
