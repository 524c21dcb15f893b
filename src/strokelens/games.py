"""Games: ``game(z) -> score``, one entry of ``z`` per unit, 1 = present, 0 = removed.

A `Game` wraps a view (model + how ``z`` reaches it) bound to a batch of inputs and a target per
input. Every attribution method and metric is a function of the game alone, so "removing a unit"
means the same thing everywhere. Evaluations are counted (one per input row the model sees).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from strokelens.errors import StrokelensError

#: A target: a class index, a class name, ``"auto"`` (the predicted class), one of those per input,
#: or a callable mapping model outputs ``(R, C)`` to scores ``(R,)``.
Target = int | str | Sequence[int | str] | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]
SCORES = ("logit", "prob", "log-prob")


class View(Protocol):
    """How presence weights reach a model. Implementations: `strokelens.views`."""

    class_names: Sequence[str]

    def outputs(self, z: torch.Tensor, rows: torch.Tensor, **inputs: Any) -> torch.Tensor:
        """Model outputs ``(R, C)`` for presence ``z`` ``(R, K)`` of input items ``rows`` ``(R,)``."""
        ...


def resolve_target(target: Target, full_outputs: torch.Tensor, class_names: Sequence[str]) -> torch.Tensor:
    """Turn a target spec into class indices ``(B,)`` (``auto``: the arg-max at full presence)."""
    b, c = full_outputs.shape

    def one(t: int | str, i: int) -> int:
        if isinstance(t, str):
            if t == "auto":
                return int(full_outputs[i].argmax())
            lookup = {name.lower(): k for k, name in enumerate(class_names)}
            key = t.lower().replace("_", " ")
            if key not in lookup:
                raise StrokelensError(
                    f"unknown class {t!r} for this model ({c} classes, e.g. {class_names[0]!r})"
                )
            return lookup[key]
        k = int(t)
        if not 0 <= k < c:
            raise StrokelensError(f"class index {k} is outside 0..{c - 1}")
        return k

    if isinstance(target, torch.Tensor):
        target = target.tolist() if target.dim() else int(target)
    if isinstance(target, (int, str)):
        return torch.tensor([one(target, i) for i in range(b)], device=full_outputs.device)
    target = list(target)
    if len(target) != b:
        raise StrokelensError(f"{len(target)} targets given for {b} inputs")
    return torch.tensor([one(t, i) for i, t in enumerate(target)], device=full_outputs.device)


class Game:
    """A batched game over units for ``B`` inputs with up to ``K`` units each.

    ``game(z)`` with ``z`` of shape ``(B, K)`` returns ``(B,)``; with ``(B, P, K)`` it evaluates ``P``
    coalitions per input and returns ``(B, P)``, in chunks of at most ``max_rows`` model rows.
    Units beyond an input's own count (padding) are ignored by the view.
    """

    def __init__(
        self,
        view: View,
        units: Any,
        target: Target = "auto",
        score: str = "logit",
        max_rows: int = 1024,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        if score not in SCORES:
            raise StrokelensError(f"unknown score {score!r}; expected one of {', '.join(SCORES)}")
        self.view = view
        self.units = units
        n_units = units.n_units
        self.n_units = n_units
        self.score = score
        self.max_rows = max_rows
        self.inputs = inputs or {}
        self.evaluations = 0
        self.device = n_units.device
        self.batch_size = len(n_units)
        self.max_units = int(n_units.max())
        self.dtype = getattr(units, "dtype", torch.float32)
        self.target_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
        with torch.no_grad():
            full = self.outputs(self.full(), torch.arange(self.batch_size, device=self.device))
        self.full_outputs = full
        if callable(target) and not isinstance(target, torch.Tensor):
            self.target_fn = target
            self.target = None
        else:
            self.target = resolve_target(target, full, view.class_names)

    @property
    def unit_mask(self) -> torch.Tensor:
        ar = torch.arange(self.max_units, device=self.device)
        return ar[None, :] < self.n_units[:, None]

    def full(self) -> torch.Tensor:
        """All units present: ``(B, K)`` ones."""
        return torch.ones(self.batch_size, self.max_units, device=self.device, dtype=self.dtype)

    def outputs(self, z: torch.Tensor, rows: torch.Tensor, **override: Any) -> torch.Tensor:
        """Raw model outputs ``(R, C)``; counts ``R`` evaluations."""
        self.evaluations += len(rows)
        return self.view.outputs(z, rows, **{**self.inputs, **override})

    def scores_of(self, outputs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The target's score ``(R,)`` from model outputs of input items ``rows``."""
        if self.target_fn is not None:
            return self.target_fn(outputs)
        if self.score == "prob":
            outputs = outputs.softmax(-1)
        elif self.score == "log-prob":
            outputs = outputs.log_softmax(-1)
        return outputs.gather(1, self.target[rows][:, None])[:, 0]

    def value(self, z: torch.Tensor, rows: torch.Tensor, **override: Any) -> torch.Tensor:
        """Scores ``(R,)`` for presence ``z`` ``(R, K)`` of items ``rows``; differentiable."""
        return self.scores_of(self.outputs(z, rows, **override), rows)

    def __call__(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Scores for ``z`` ``(B, K)`` -> ``(B,)`` or ``(B, P, K)`` -> ``(B, P)``.

        ``valid`` ``(B, P)`` bool skips coalitions that need no evaluation (their score is NaN).
        """
        if z.dim() == 2:
            return self.value(z, torch.arange(self.batch_size, device=self.device))
        b, p, k = z.shape
        flat = z.reshape(b * p, k)
        rows = torch.arange(b, device=self.device).repeat_interleave(p)
        keep = None if valid is None else valid.reshape(-1).nonzero()[:, 0]
        if keep is not None:
            flat, rows = flat[keep], rows[keep]
        chunks = [
            self.value(flat[i : i + self.max_rows], rows[i : i + self.max_rows])
            for i in range(0, len(rows), self.max_rows)
        ]
        values = torch.cat(chunks) if chunks else flat.new_zeros(0)
        if keep is None:
            return values.view(b, p)
        out = torch.full((b * p,), float("nan"), dtype=values.dtype, device=values.device)
        out[keep] = values
        return out.view(b, p)

    def with_score(self, score: str) -> Game:
        """The same game and targets scored as ``logit``/``prob``/``log-prob`` (evaluations counted anew)."""
        other = object.__new__(Game)
        other.__dict__.update(self.__dict__)
        if score not in SCORES:
            raise StrokelensError(f"unknown score {score!r}; expected one of {', '.join(SCORES)}")
        other.score = score
        other.evaluations = 0
        return other
