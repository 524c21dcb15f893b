"""The stroke transformer's training data: sketches prepared once into padded tensors, epochs of
batches bucketed by stroke count, and top-1 accuracy on prepared data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from strokelens.errors import StrokelensError
from strokelens.models.stroke_transformer import StrokeTransformer
from strokelens.sketch import Sketch, SketchBatch


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
    model: StrokeTransformer, sketches: Sequence[Sketch], chunk: int = 512, unlabelled: int = 0
) -> PreparedSketches:
    """Run `StrokeTransformer.prepare` once over ``sketches`` (in chunks) and pad the results together;
    the last ``unlabelled`` sketches may be of any class (label -1: a distillation transfer set)."""
    if not sketches:
        raise StrokelensError("no sketches to prepare")
    index = {name: i for i, name in enumerate(model.class_names)}
    labelled = len(sketches) - unlabelled
    missing = sorted({s.label for s in sketches[:labelled] if s.label not in index}, key=str)
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
        labels=torch.tensor([index[s.label] if i < labelled else -1 for i, s in enumerate(sketches)]),
        points_per_stroke=count,
    )


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
