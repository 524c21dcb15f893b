"""`BatchRunner`: a method run (`MethodRun`: a `Configured` method and the units, seed and score it
runs with) over inputs batch by batch, each batch's result handed to sinks. The one place where a
method's unit limit (``max_units``) is applied."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from strokelens.errors import StrokelensError
from strokelens.games import Target, slice_target
from strokelens.methods import Configured
from strokelens.runner.batch import Batch, BatchResult
from strokelens.runner.threads import prefetch

if TYPE_CHECKING:
    from strokelens.runner.sinks import Sink
    from strokelens.units.base import Units
    from strokelens.views.base import View


@dataclass(frozen=True)
class MethodRun:
    """How a method runs: the ``method`` with its checked options (`Configured`), the ``units`` it
    scores (None: the method's own where the view has it), how the view makes them (``unit_options``),
    seed and score."""

    method: Configured
    units: str | None = None
    unit_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    score: str = "logit"

    @classmethod
    def of(cls, name: str, options: dict[str, Any] | None = None, **settings: Any) -> MethodRun:
        """``MethodRun.of("ig", {"steps": 32}, seed=1)``: the options are checked here."""
        return cls(Configured(name, options), **settings)

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def max_units(self) -> int | None:
        """The most units the method takes (None: no limit)."""
        return self.method.method.max_units


def within_limit(units: Units, limit: int | None) -> torch.Tensor:
    """Indices of the inputs of ``units`` with at most ``limit`` units (None: all of them)."""
    n_units = units.n_units.cpu()
    if limit is None:
        return torch.arange(len(n_units))
    return (n_units <= limit).nonzero()[:, 0]


def rows_of(target: Any, rows: torch.Tensor) -> Any:
    """The part of a per-input ``target`` (tensor or list) for ``rows``; a shared target as it is."""
    if isinstance(target, torch.Tensor) and target.dim() > 0:
        return target[rows.to(target.device)]
    if isinstance(target, (list, tuple)):
        return [target[i] for i in rows.tolist()]
    return target


class BatchRunner:
    """Runs ``method`` on ``view``'s model, ``batch_size`` inputs at a time.

    ``skip_over_limit``: leave out (see `BatchResult.skipped`) the inputs with more units than the
    method takes, instead of letting the method refuse the batch. ``curves``: measure each batch's
    deletion/insertion curves for the explained targets.
    """

    def __init__(
        self,
        view: View,
        method: MethodRun,
        *,
        batch_size: int = 32,
        curves: bool = False,
        skip_over_limit: bool = False,
    ) -> None:
        if batch_size < 1:
            raise StrokelensError(f"batch_size must be at least 1, got {batch_size}")
        self.view, self.method, self.batch_size = view, method, batch_size
        self.curves, self.skip_over_limit = curves, skip_over_limit
        self._cls = method.method.method
        self._instance = self._cls(view)
        self.unit_kind = self._cls.unit_kind(view, method.units)

    def units(self, inputs: Sequence[Any]) -> Units:
        """The units the method scores for ``inputs`` (as the view takes them)."""
        return self.view.units_for(inputs, self.unit_kind, **self.method.unit_options)

    def prepare(self, inputs: Sequence[Any], target: Target = "auto", start: int = 0, tags=None) -> Batch:
        """A batch of ``inputs`` with their units; ``target`` is the batch's own."""
        inputs = list(inputs)
        return Batch(start, inputs, self.units(inputs), target, tags)

    def batches(self, inputs: Sequence[Any], target: Target = "auto") -> Iterator[Batch]:
        """``inputs`` cut into prepared batches, ``target`` sliced to each (see `slice_target`)."""
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start : start + self.batch_size]
            yield self.prepare(chunk, slice_target(target, start, start + len(chunk), len(inputs)), start)

    def attribute(self, units: Units, target: Any, limit: int | None = None):
        """``(explanation, rows)`` of the method on the inputs of ``units`` with at most ``limit``
        units (``rows``: their places), or None when none is within it."""
        rows = within_limit(units, limit)
        if not len(rows):
            return None
        sub = units if len(rows) == len(units.n_units) else units.select(rows)
        expl = self._instance.attribute(
            sub,
            target=rows_of(target, rows),
            seed=self.method.seed,
            score=self.method.score,
            **self.method.method.options,
        )
        return expl, rows

    def run_batch(self, batch: Batch, curves: bool | None = None) -> BatchResult:
        """The method's result on ``batch`` (``curves``: override the runner's choice)."""
        start = time.perf_counter()
        limit = self.method.max_units if self.skip_over_limit else None
        done = self.attribute(batch.units, batch.target, limit)
        seconds = time.perf_counter() - start
        if done is None:
            return BatchResult(batch, None, torch.zeros(0, dtype=torch.long), None, seconds)
        expl, rows = done
        result = BatchResult(batch, expl, rows, None, seconds)
        if self.curves if curves is None else curves:
            from strokelens.metrics import deletion_insertion

            target = expl.target if expl.target is not None else rows_of(batch.target, rows)
            game = self.view.game(expl.units, target, self.method.score)
            result.curves = deletion_insertion(game, expl.scores)
        return result

    def results(self, batches: Iterable[Batch], depth: int = 2) -> Iterator[BatchResult]:
        """Each batch's result, the next batches prepared ``depth`` ahead in a background thread."""
        for batch in prefetch(batches, depth):
            yield self.run_batch(batch)

    def run(self, inputs: Sequence[Any], sinks: Sequence[Sink], target: Target = "auto") -> None:
        """Run the method over ``inputs`` and hand every batch's result to each of ``sinks``, then
        close them."""
        inputs = list(inputs)
        if not inputs:
            raise StrokelensError("no inputs to explain")
        try:
            for result in self.results(self.batches(inputs, target)):
                for sink in sinks:
                    sink.add(result)
        finally:
            for sink in sinks:
                sink.close()
