"""Knowledge distillation for the stroke transformer: a teacher model's soft targets over the
student's classes, and the loss that pulls the student towards them (Hinton et al., 2015).

The teacher reads every training drawing its own way (its view: DoodleNet rasterises it), so a
drawing of any class can teach: drawings of classes the student does not know (a *transfer set*)
carry the teacher's sense of which of the student's classes they resemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch
from strokelens.views.base import View


@dataclass(frozen=True)
class Distillation:
    """Soft targets for training: ``logits`` ``(N, C)``, the teacher's logits over the student's
    classes for each training sketch in order; ``weight`` of the distillation term beside the
    cross-entropy; ``temperature`` of both softmaxes."""

    logits: torch.Tensor
    weight: float = 1.0
    temperature: float = 2.0

    def __post_init__(self) -> None:
        if self.weight < 0 or not self.temperature > 0:
            raise StrokelensError(
                f"distillation needs weight >= 0 and temperature > 0, got {self.weight}, {self.temperature}"
            )
        if self.logits.dim() != 2 or not torch.isfinite(self.logits).all():
            raise StrokelensError(
                f"teacher logits must be a finite (N, C) tensor, got {tuple(self.logits.shape)}"
            )

    def loss(self, student: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``weight * T^2 * KL(teacher || student)`` at temperature ``T``, averaged over ``rows``."""
        return self.weight * distillation_loss(student, self.logits[rows].to(student), self.temperature)


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
    index = {name: i for i, name in enumerate(view.class_names)}
    missing = [name for name in class_names if name not in index]
    if missing:
        raise StrokelensError(f"the teacher model has no class {', '.join(map(repr, missing))}")
    if not sketches:
        raise StrokelensError("no sketches for the teacher to read")
    columns = torch.tensor([index[name] for name in class_names])
    out = []
    for lo in range(0, len(sketches), batch_size):
        prepared = view.prepare(list(sketches[lo : lo + batch_size]))
        outputs = view.game(view.units_for(prepared, "stroke")).full_outputs
        out.append(outputs[:, columns.to(outputs.device)].float().cpu())
    return torch.cat(out)
