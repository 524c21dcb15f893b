"""Knowledge distillation for the stroke transformer: a teacher model's soft targets over the
student's classes, and the loss that pulls the student towards them (Hinton et al., 2015).

The teacher reads every training drawing its own way (its view: DoodleNet rasterises it), so a
drawing of any class can teach: drawings of classes the student does not know (a *transfer set*)
carry the teacher's sense of which of the student's classes they resemble. It reads each drawing
once as it is (`teacher_logits`), or, with `AugmentedTeacher`, each training batch as the student sees
it after augmentation: rotated, sheared, strokes dropped ("consistent teaching", Beyer et al., CVPR
2022, where the teacher's targets for an augmented view describe that view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.games import class_indices
from strokelens.sketch import Sketch, SketchBatch
from strokelens.views.base import View
from strokelens.views.raster import RasterSketchView


class SeenBatch(NamedTuple):
    """A training batch as the student saw it: its ``rows`` of the training sketches, and (where the
    caller has them) their augmented ``points``, ``stroke_ids`` and stroke ``presence``."""

    rows: torch.Tensor
    points: torch.Tensor | None = None
    stroke_ids: torch.Tensor | None = None
    presence: torch.Tensor | None = None


class TeacherTargets(Protocol):
    """The teacher's logits over the student's classes for a training batch (`SeenBatch`)."""

    def check_rows(self, n_sketches: int) -> None:
        """Refuse targets that cannot serve ``n_sketches`` training sketches."""

    def __call__(self, batch: SeenBatch) -> torch.Tensor: ...


@dataclass(frozen=True)
class FixedTeacherLogits:
    """The teacher's logits ``(N, C)`` over the student's classes for each training sketch in order,
    read once from the drawings as they are (`teacher_logits`)."""

    logits: torch.Tensor

    def __post_init__(self) -> None:
        if self.logits.dim() != 2 or not torch.isfinite(self.logits).all():
            raise StrokelensError(
                f"teacher logits must be a finite (N, C) tensor, got {tuple(self.logits.shape)}"
            )

    def check_rows(self, n_sketches: int) -> None:
        if len(self.logits) != n_sketches:
            raise StrokelensError(f"{len(self.logits)} teacher logits for {n_sketches} sketches")

    def __call__(self, batch: SeenBatch) -> torch.Tensor:
        return self.logits[batch.rows]


class AugmentedTeacher:
    """A raster teacher reading training batches as the stroke transformer holds them: points
    ``(B, N, 2)`` with stroke ids ``(B, N)`` (-1 on padding) and stroke presences ``(B, S)`` (dropped
    strokes at 0), drawn by the view's renderer; its logits over ``class_names``."""

    def __init__(self, view: View, class_names: Sequence[str]) -> None:
        if not isinstance(view, RasterSketchView):
            raise StrokelensError(
                f"a teacher that reads augmented drawings must draw them (a raster sketch model), "
                f"not a {type(view).__name__}"
            )
        self.view = view
        self.columns = teacher_columns(view, class_names)

    def check_rows(self, n_sketches: int) -> None:
        """Any number: it reads each batch afresh."""

    def __call__(self, batch: SeenBatch) -> torch.Tensor:
        if batch.points is None or batch.stroke_ids is None:
            raise StrokelensError("a teacher that reads augmented drawings needs the batch's points")
        return self.read(batch.points, batch.stroke_ids, batch.presence)

    @torch.no_grad()
    def read(
        self, points: torch.Tensor, stroke_ids: torch.Tensor, presence: torch.Tensor | None
    ) -> torch.Tensor:
        """The teacher's logits ``(B, C)`` on a batch of prepared points."""
        device = self.view.device
        points, stroke_ids = points.to(device), stroke_ids.to(device)
        mask = stroke_ids >= 0
        batch = SketchBatch(points, stroke_ids, mask, stroke_ids.amax(1) + 1, sketches=[])
        weight = None if presence is None else presence.to(device)
        images = self.view.renderer(batch, unit_weight=weight)
        return self.view.model(images)[:, self.columns.to(device)].float()


@dataclass(frozen=True)
class Distillation:
    """Soft targets for training: the teacher's logits (`FixedTeacherLogits`, read once, or an
    `AugmentedTeacher` reading each batch); ``weight`` of the distillation term beside the
    cross-entropy; ``temperature`` of both softmaxes."""

    targets: TeacherTargets
    weight: float = 1.0
    temperature: float = 2.0

    def __post_init__(self) -> None:
        if self.weight < 0 or not self.temperature > 0:
            raise StrokelensError(
                f"distillation needs weight >= 0 and temperature > 0, got {self.weight}, {self.temperature}"
            )

    def loss(
        self,
        student: torch.Tensor,
        rows: torch.Tensor,
        points: torch.Tensor | None = None,
        stroke_ids: torch.Tensor | None = None,
        presence: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``weight * T^2 * KL(teacher || student)`` at temperature ``T``, averaged over ``rows`` (the
        batch's indices into the training sketches, which the student saw as ``points``,
        ``stroke_ids`` and ``presence``)."""
        target = self.targets(SeenBatch(rows, points, stroke_ids, presence))
        return self.weight * distillation_loss(student, target.to(student), self.temperature)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, the mean over rows (``(B, C)`` each);
    the ``T^2`` keeps its gradients on the cross-entropy's scale."""
    t = temperature
    log_student = F.log_softmax(student / t, dim=-1)
    log_teacher = F.log_softmax(teacher / t, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean") * t**2


@torch.no_grad()
def teacher_logits(
    view: View, sketches: Sequence[Sketch], class_names: Sequence[str], batch_size: int = 256
) -> torch.Tensor:
    """``(N, C)`` logits of ``view``'s model for ``class_names`` (all among its classes) on each sketch,
    read the model's own way (`View.prepare`)."""
    columns = teacher_columns(view, class_names)
    if not sketches:
        raise StrokelensError("no sketches for the teacher to read")
    out = []
    for lo in range(0, len(sketches), batch_size):
        prepared = view.prepare(list(sketches[lo : lo + batch_size]))
        outputs = view.game(view.units_for(prepared, "stroke")).full_outputs
        out.append(outputs[:, columns.to(outputs.device)].float().cpu())
    return torch.cat(out)


def teacher_columns(view: View, class_names: Sequence[str]) -> torch.Tensor:
    """The teacher's output column of each of ``class_names``; refuses classes it does not know."""
    return torch.tensor(class_indices(class_names, view.class_names, owner="the teacher model"))
