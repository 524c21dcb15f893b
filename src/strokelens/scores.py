"""Score spaces: what a game scores a model's outputs as before its target picks a value.

``logit`` is the raw output, ``prob`` its softmax and ``log-prob`` its log-softmax over the last
dimension. Each space is a `ScoreSpace` that knows its transform and whether it needs class logits
(a softmax of a generator's image means nothing), so callers ask it instead of comparing names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from strokelens.errors import StrokelensError


@dataclass(frozen=True)
class ScoreSpace:
    """One score space: its ``name``, its ``transform`` of raw outputs ``(R, ..., C)`` and whether it
    only means something for class logits (``needs_logits``)."""

    name: str
    transform: Callable[[torch.Tensor], torch.Tensor]
    needs_logits: bool

    def __call__(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.transform(outputs)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if SCORE_SPACES.get(self.name) is self:  # a registered space comes back as the one instance
            return score_space, (self.name,)
        return ScoreSpace, (self.name, self.transform, self.needs_logits)


def _raw(outputs: torch.Tensor) -> torch.Tensor:
    return outputs


def _softmax(outputs: torch.Tensor) -> torch.Tensor:
    return outputs.softmax(-1)


def _log_softmax(outputs: torch.Tensor) -> torch.Tensor:
    return outputs.log_softmax(-1)


LOGIT = ScoreSpace("logit", _raw, needs_logits=False)
PROB = ScoreSpace("prob", _softmax, needs_logits=True)
LOG_PROB = ScoreSpace("log-prob", _log_softmax, needs_logits=True)

#: Every score space by name, ``logit`` first.
SCORE_SPACES: dict[str, ScoreSpace] = {space.name: space for space in (LOGIT, PROB, LOG_PROB)}
#: Their names.
SCORES: tuple[str, ...] = tuple(SCORE_SPACES)


def score_space(name: str | ScoreSpace) -> ScoreSpace:
    """The score space called ``name`` (or ``name`` itself when it is one); refuses any other."""
    if isinstance(name, ScoreSpace):
        return name
    space = SCORE_SPACES.get(name)
    if space is None:
        raise StrokelensError(f"unknown score {name!r}; expected one of {', '.join(SCORES)}")
    return space
