"""Games: ``game(z) -> score``, one entry of ``z`` per unit, 1 = present, 0 = removed.

A `Game` wraps a view (model + how ``z`` reaches it) bound to a batch of inputs and a target per
input. Every attribution method and metric is a function of the game alone, so "removing a unit"
means the same thing everywhere. Evaluations are counted (one per input row the model sees).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch

from strokelens.errors import StrokelensError
from strokelens.scores import ScoreSpace, score_space
from strokelens.targets import takes_rows

if TYPE_CHECKING:
    from strokelens.units.base import Units

#: A target: a class index, a class name, ``"auto"`` (the predicted class), one of those per input,
#: or a callable mapping model outputs ``(R, ...)`` to scores ``(R,)`` (class logits ``(R, C)``, or any
#: output, e.g. a generated image; see `strokelens.targets`). A callable with a keyword ``rows`` also
#: gets the input item of each row.
Target = int | str | Sequence[int | str] | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]
#: Floating dtypes of less than float32's precision (model outputs under autocast).
REDUCED_FLOATS = (torch.bfloat16, torch.float16)


class View(Protocol):
    """What a game needs of its view: `strokelens.views.base.View` is one. A protocol, so that games
    sit a floor below views (a view makes games; a game never imports views)."""

    class_names: Sequence[str]
    outputs_are_logits: bool
    model: Any

    def outputs(self, z: torch.Tensor, rows: torch.Tensor, **inputs: Any) -> torch.Tensor: ...

    def points(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]: ...


def normalise_class_name(name: str) -> str:
    """Case, ``_`` and repeated spaces ignored: ``"Traffic_light"`` -> ``"traffic light"``."""
    return " ".join(str(name).strip().lower().replace("_", " ").split())


def class_index(name: int | str, class_names: Sequence[str]) -> int:
    """A class index from a name (compared by `normalise_class_name`) or an index in range.
    The one class lookup of targets, inversion goals and every command (`class_indices` for many)."""
    if not isinstance(name, str):
        return _index_in_range(name, class_names)
    key = normalise_class_name(name)
    for k, n in enumerate(class_names):
        if normalise_class_name(n) == key:
            return k
    raise _unknown_classes([name], class_names, "this model")


def _index_in_range(index: int, class_names: Sequence[str]) -> int:
    k = int(index)
    if not 0 <= k < len(class_names):
        raise StrokelensError(f"class index {k} is outside 0..{len(class_names) - 1}")
    return k


def _unknown_classes(names: Sequence[str], class_names: Sequence[str], owner: str) -> StrokelensError:
    return StrokelensError(
        f"unknown class {', '.join(map(repr, names))} for {owner} "
        f"({len(class_names)} classes, e.g. {class_names[0]!r})"
    )


def class_indices(
    names: Sequence[int | str], class_names: Sequence[str], *, owner: str = "this model"
) -> list[int]:
    """`class_index` of every name with one lookup table; a refusal names every unknown class at once
    (``owner`` says whose classes they are)."""
    lookup: dict[str, int] = {}
    for k, n in enumerate(class_names):
        lookup.setdefault(normalise_class_name(n), k)
    indices: list[int] = []
    unknown: list[str] = []
    for name in names:
        if not isinstance(name, str):
            indices.append(_index_in_range(name, class_names))
        elif (k := lookup.get(normalise_class_name(name))) is not None:
            indices.append(k)
        else:
            unknown.append(name)
    if unknown:
        raise _unknown_classes(unknown, class_names, owner)
    return indices


def resolve_target(target: Target, full_outputs: torch.Tensor, class_names: Sequence[str]) -> torch.Tensor:
    """Turn a target spec into class indices ``(B,)`` (``auto``: the arg-max at full presence)."""
    b, c = full_outputs.shape

    if len(class_names) != c:
        raise StrokelensError(f"the model gives {c} outputs but names {len(class_names)} classes")

    def one(t: int | str, i: int) -> int:
        if isinstance(t, str) and t == "auto":
            return int(full_outputs[i].argmax())
        return class_index(t, class_names)

    if isinstance(target, torch.Tensor):
        target = target.tolist() if target.dim() else int(target)
    if isinstance(target, (int, str)):
        return torch.tensor([one(target, i) for i in range(b)], device=full_outputs.device)
    target = list(target)
    if len(target) != b:
        raise StrokelensError(f"{len(target)} targets given for {b} inputs")
    return torch.tensor([one(t, i) for i, t in enumerate(target)], device=full_outputs.device)


def check_score(score: str | ScoreSpace, view: View) -> ScoreSpace:
    """The score space called ``score``; refuses unknown scores, and probabilities of outputs that
    are not logits."""
    space = score_space(score)
    if space.needs_logits and not view.outputs_are_logits:
        raise StrokelensError(
            f"{type(view).__name__} outputs are not logits, so score {score!r} means nothing; use 'logit' "
            "(the raw output)"
        )
    return space


def slice_target(target: Target, start: int, stop: int, total: int) -> Target:
    """The part of a per-input ``target`` that belongs to inputs ``start:stop`` of ``total``; a single
    target (a class, ``auto``, a callable) applies to every batch as it is."""
    if isinstance(target, (str, int)) or (callable(target) and not isinstance(target, torch.Tensor)):
        return target
    if isinstance(target, torch.Tensor) and target.dim() == 0:
        return target
    if len(target) != total:
        raise StrokelensError(f"{len(target)} targets given for {total} inputs")
    return target[start:stop]


class Game:
    """A batched game over units for ``B`` inputs with up to ``K`` units each.

    ``game(z)`` with ``z`` of shape ``(B, K)`` returns ``(B,)``; with ``(B, P, K)`` it evaluates ``P``
    coalitions per input and returns ``(B, P)``, in chunks of at most ``max_rows`` model rows.
    ``game.value(z, rows)`` scores any rows: ``z`` ``(R, K)`` for input items ``rows`` ``(R,)`` (the
    form Captum's ``forward_func`` takes, with ``rows`` as an additional forward argument).
    Units beyond an input's own count (padding) are ignored by the view. Every shape is checked.

    ``score``: ``logit`` (the raw output), ``prob`` (softmax) or ``log-prob``. A callable target
    gets the outputs after that transform, ``(R, ...)`` -> ``(R,)``; outputs that are not class
    logits (a view with ``outputs_are_logits`` False, e.g. a generator's image) take ``logit`` only.
    A callable with a keyword ``rows`` is called ``target(outputs, rows=rows)``.
    """

    def __init__(
        self,
        view: View,
        units: Units,
        target: Target = "auto",
        score: str | ScoreSpace = "logit",
        max_rows: int = 1024,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        self.score_space = check_score(score, view)
        if max_rows < 1:
            raise StrokelensError(f"max_rows must be at least 1, got {max_rows}")
        self.view = view
        self.units = units
        self.n_units = units.n_units
        self.max_rows = max_rows
        self.inputs = inputs or {}
        self.evaluations = 0
        self.device = self.n_units.device
        self.batch_size = len(self.n_units)
        self.max_units = int(self.n_units.max())
        self.dtype = units.dtype
        self.target_fn: Callable[..., torch.Tensor] | None = None
        self.target_takes_rows = False
        with torch.no_grad():
            full = self.outputs(self.full(), torch.arange(self.batch_size, device=self.device))
        self.full_outputs = full
        if callable(target) and not isinstance(target, torch.Tensor):
            self.target_fn = target
            self.target_takes_rows = takes_rows(target)
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

    def points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The coordinates ``value(..., points=...)`` replaces (see `View.points`)."""
        return self.view.points(self.inputs)

    def count(self, n: int) -> None:
        """Record ``n`` model evaluations made outside `outputs` (e.g. by an external explainer)."""
        self.evaluations += int(n)

    def outputs(self, z: torch.Tensor, rows: torch.Tensor, **override: Any) -> torch.Tensor:
        """Raw model outputs ``(R, C)``; counts ``R`` evaluations."""
        self._check_rows(z, rows)
        self.evaluations += len(rows)
        return self.view.outputs(z, rows, **{**self.inputs, **override})

    @property
    def score(self) -> str:
        """The score space's name: ``logit``, ``prob`` or ``log-prob``."""
        return self.score_space.name

    def transform(self, outputs: torch.Tensor) -> torch.Tensor:
        """Model outputs ``(R, C)`` in the game's score space (softmax for ``prob``, ...); outputs in a
        reduced precision, as under autocast, are scored in float32."""
        if outputs.dtype in REDUCED_FLOATS:
            outputs = outputs.float()
        return self.score_space(outputs)

    def scores_of(self, outputs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The target's score ``(R,)`` from model outputs of input items ``rows`` (in float32 where the
        outputs are in a reduced precision: `transform`)."""
        outputs = self.transform(outputs)
        if self.target_fn is not None:
            scores = self.target_fn(outputs, rows=rows) if self.target_takes_rows else self.target_fn(outputs)
            if not isinstance(scores, torch.Tensor) or scores.shape != (len(rows),):
                got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
                raise StrokelensError(
                    f"a callable target must map outputs {tuple(outputs.shape)} to ({len(rows)},) scores, "
                    f"got {got}"
                )
            return scores
        return outputs.gather(1, self.target[rows][:, None])[:, 0]

    def value(self, z: torch.Tensor, rows: torch.Tensor, **override: Any) -> torch.Tensor:
        """Scores ``(R,)`` for presence ``z`` ``(R, K)`` of items ``rows``; differentiable."""
        return self.scores_of(self.outputs(z, rows, **override), rows)

    def __call__(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Scores for ``z`` ``(B, K)`` -> ``(B,)`` or ``(B, P, K)`` -> ``(B, P)``.

        ``valid`` ``(B, P)`` bool skips coalitions that need no evaluation (their score is NaN).
        """
        self._check_z(z)
        if z.dim() == 2:
            if valid is not None:
                raise StrokelensError("valid masks coalitions of a (B, P, K) presence; z here is (B, K)")
            return self.value(z, torch.arange(self.batch_size, device=self.device))
        b, p, k = z.shape
        if valid is not None and tuple(valid.shape) != (b, p):
            raise StrokelensError(f"valid must have shape {(b, p)}, got {tuple(valid.shape)}")
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

    def _check_z(self, z: torch.Tensor) -> None:
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            raise StrokelensError(f"presence z must be a floating-point tensor, got {_describe(z)}")
        b, k = self.batch_size, self.max_units
        if z.dim() not in (2, 3) or z.shape[0] != b or z.shape[-1] != k:
            raise StrokelensError(
                f"presence z must have shape ({b}, {k}) or ({b}, P, {k}) for this game of {b} input(s) "
                f"with up to {k} units, got {tuple(z.shape)}; to score other rows (as Captum does), call "
                "game.value(z, rows) with rows naming each row's input"
            )

    def _check_rows(self, z: torch.Tensor, rows: torch.Tensor) -> None:
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            raise StrokelensError(f"presence z must be a floating-point tensor, got {_describe(z)}")
        if not isinstance(rows, torch.Tensor) or rows.dtype != torch.long or rows.dim() != 1:
            raise StrokelensError(f"rows must be a 1-D long tensor of input indices, got {_describe(rows)}")
        if z.dim() != 2 or z.shape != (len(rows), self.max_units):
            raise StrokelensError(
                f"presence z must have shape ({len(rows)}, {self.max_units}) for {len(rows)} rows, "
                f"got {tuple(z.shape)}"
            )
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= self.batch_size):
            raise StrokelensError(
                f"rows must index the game's {self.batch_size} input(s), got {rows.tolist()[:8]}"
            )

    def with_score(self, score: str | ScoreSpace) -> Game:
        """The same game and targets scored as ``logit``/``prob``/``log-prob`` (evaluations counted anew)."""
        space = check_score(score, self.view)
        other = object.__new__(Game)
        other.__dict__.update(self.__dict__)
        other.score_space = space
        other.evaluations = 0
        return other


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__
