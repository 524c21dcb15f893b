"""What one batched stroke location inversion did, and the per-sketch figures read from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from strokelens.sketch import Sketch


@dataclass(eq=False)
class InversionResult:
    """What one batched inversion did. Tensors are on the CPU; ``B`` sketches, ``S`` stroke slots.

    ``sketches``: the sketches as the model saw them, in the normalised frame at their true locations.
    ``true_locations`` / ``start_locations`` / ``final_locations``: ``(B, S, 2)`` stroke starts (zero on
    padding). ``steps``: the optimisation steps recorded in ``trajectory`` ``(T, B, S, 2)`` and
    ``goal_probs`` ``(T, B)`` (step ``k`` = after ``k`` updates; the first is 0, the last the end).
    ``start_logits`` / ``final_logits``: ``(B, C)`` over all the model's classes.
    ``classes``: the class indices the goal probability and arg-max are taken over.
    """

    mode: str
    class_names: list[str]
    classes: torch.Tensor
    sketches: list[Sketch]
    n_strokes: torch.Tensor
    true_class: torch.Tensor
    goal: torch.Tensor
    true_locations: torch.Tensor
    start_locations: torch.Tensor
    final_locations: torch.Tensor
    start_logits: torch.Tensor
    final_logits: torch.Tensor
    steps: list[int]
    trajectory: torch.Tensor
    goal_probs: torch.Tensor
    seconds: float
    evaluations: int
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sketches)

    # -------------------------------------------------------------------- per-sketch figures
    @property
    def stroke_mask(self) -> torch.Tensor:
        """``(B, S)`` bool: real stroke slots."""
        return torch.arange(self.true_locations.shape[1])[None] < self.n_strokes[:, None]

    def location_error(self, locations: torch.Tensor) -> torch.Tensor:
        """``(..., B)`` mean distance of stroke starts to the true ones, normalised frame."""
        dist = (locations - self.true_locations).norm(dim=-1)
        mask = self.stroke_mask.to(dist.dtype)
        return (dist * mask).sum(-1) / mask.sum(-1).clamp_min(1)

    @property
    def error_before(self) -> torch.Tensor:
        return self.location_error(self.start_locations)

    @property
    def error_after(self) -> torch.Tensor:
        return self.location_error(self.final_locations)

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over ``classes`` (``(B, len(classes))``)."""
        return logits[:, self.classes].softmax(-1)

    def _goal_col(self) -> torch.Tensor:
        lookup = torch.full((len(self.class_names),), -1, dtype=torch.long)
        lookup[self.classes] = torch.arange(len(self.classes))
        return lookup[self.goal]

    @property
    def start_prob(self) -> torch.Tensor:
        return self.probs(self.start_logits).gather(1, self._goal_col()[:, None])[:, 0]

    @property
    def final_prob(self) -> torch.Tensor:
        return self.probs(self.final_logits).gather(1, self._goal_col()[:, None])[:, 0]

    def predicted(
        self, logits: torch.Tensor, classes: Sequence[int] | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Arg-max class index ``(B,)`` over ``classes`` (default: this result's ``classes``)."""
        cls = self.classes if classes is None else torch.as_tensor(classes, dtype=torch.long)
        return cls[logits[:, cls].argmax(-1)]

    @property
    def success_before(self) -> torch.Tensor:
        """``(B,)`` bool: the arg-max was already the goal at the start."""
        return self.predicted(self.start_logits) == self.goal

    @property
    def success(self) -> torch.Tensor:
        """``(B,)`` bool: recovered / transferred, i.e. the arg-max is the goal at the end."""
        return self.predicted(self.final_logits) == self.goal

    # ------------------------------------------------------------------------------ sketches
    def sketch_at(self, i: int, locations: torch.Tensor | int = -1) -> Sketch:
        """Sketch ``i`` (normalised frame) with its strokes at ``locations`` ``(S, 2)`` or at recorded
        frame ``locations`` (an index into ``steps``)."""
        if isinstance(locations, int):
            locations = self.trajectory[locations, i]
        base = self.sketches[i]
        shift = (locations - self.true_locations[i]).double().numpy()
        strokes = [s + shift[k] for k, s in enumerate(base.strokes)]
        return dataclasses.replace(base, strokes=strokes, meta=dict(base.meta))

    def records(self) -> list[dict]:
        """One JSON-ready dict per sketch."""
        pred0, pred1 = self.predicted(self.start_logits), self.predicted(self.final_logits)
        cols = {
            "success": self.success.tolist(),
            "start_prob": self.start_prob.tolist(),
            "final_prob": self.final_prob.tolist(),
            "error_before": self.error_before.tolist(),
            "error_after": self.error_after.tolist(),
        }
        out = []
        for i, sk in enumerate(self.sketches):
            n = int(self.n_strokes[i])
            t = int(self.true_class[i])
            out.append(
                {
                    "id": sk.key_id or str(i),
                    "source": sk.source,
                    "mode": self.mode,
                    "true_class": self.class_names[t] if t >= 0 else None,
                    "goal": self.class_names[int(self.goal[i])],
                    "success": bool(cols["success"][i]),
                    "predicted_before": self.class_names[int(pred0[i])],
                    "predicted_after": self.class_names[int(pred1[i])],
                    "start_prob": round(cols["start_prob"][i], 6),
                    "final_prob": round(cols["final_prob"][i], 6),
                    "location_error_before": round(cols["error_before"][i], 6),
                    "location_error_after": round(cols["error_after"][i], 6),
                    "strokes": n,
                    "true_locations": _round(self.true_locations[i, :n]),
                    "start_locations": _round(self.start_locations[i, :n]),
                    "final_locations": _round(self.final_locations[i, :n]),
                }
            )
        return out


def _round(t: torch.Tensor) -> list:
    return np.round(t.double().numpy(), 5).tolist()
