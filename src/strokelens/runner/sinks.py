"""Where a `BatchRunner`'s results go, batch by batch: `MemorySink` (`explain`, `evaluate`),
`PicturesSink` (the first inputs a report draws), `CallbackSink` (a server's replies, a job's rows),
and `BackgroundSink`, which moves any sink's work onto a writer thread with a bounded queue."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from strokelens.runner.threads import Writer

if TYPE_CHECKING:
    from strokelens.explanation import Explanation
    from strokelens.metrics import Curves
    from strokelens.runner.batch import BatchResult


class Sink(Protocol):
    """Takes each batch's result in order (`add`), then is closed once (`close`)."""

    def add(self, result: BatchResult) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps every batch's explanation and curves (when measured), in order."""

    def __init__(self) -> None:
        self.explanations: list[Explanation] = []
        self.curves: list[Curves] = []

    def add(self, result: BatchResult) -> None:
        if result.explanation is not None:
            self.explanations.append(result.explanation)
        if result.curves is not None:
            self.curves.append(result.curves)

    def close(self) -> None:
        pass


class CallbackSink:
    """Calls ``fn(result)`` for every batch (a server replying batch by batch, a job making rows)."""

    def __init__(self, fn: Callable[[BatchResult], None]) -> None:
        self.fn = fn

    def add(self, result: BatchResult) -> None:
        self.fn(result)

    def close(self) -> None:
        pass


class PicturesSink:
    """The first ``count`` explained inputs of a run, with their batches' curves, for a report's
    pictures: captured while the job runs, so that the report need not explain them again.
    ``draw(sink)``: drawn on a background thread as soon as all ``count`` are in, while the run goes
    on (`finish` draws what there is otherwise, and waits)."""

    def __init__(self, count: int, draw: Callable[[PicturesSink], object] | None = None) -> None:
        self.count = count
        self.explanations: list[Explanation] = []
        self.curves: list[Curves] = []
        self.taken = 0
        self.closed = False
        self._draw = draw
        self._drawing: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def draws(self) -> bool:
        """Whether it draws its pictures itself (it was given ``draw``)."""
        return self._draw is not None

    def _run_draw(self) -> None:
        try:
            self._draw(self)  # type: ignore[misc]
        except BaseException as exc:  # raised by finish()
            self._error = exc

    def finish(self) -> None:
        """Draw (unless drawn in the background already) and wait for the drawing."""
        if self._draw is None:
            return
        if self._drawing is None:
            self._run_draw()
        else:
            self._drawing.join()
        if self._error is not None:
            raise self._error

    @property
    def wants_more(self) -> bool:
        return self.taken < self.count

    def add(self, result: BatchResult) -> None:
        expl = result.explanation
        if expl is None or not self.wants_more:
            return
        take = min(len(expl.scores), self.count - self.taken)
        curves = result.curves
        if take < len(expl.scores):
            expl = _first(expl, take)
            if curves is not None:
                curves = _first_curves(curves, take, expl.units.max_units)
        self.explanations.append(expl)
        if curves is not None:
            self.curves.append(curves)
        self.taken += take
        if self._draw is not None and not self.wants_more and self._drawing is None:
            self._drawing = threading.Thread(target=self._run_draw, name="strokelens-pictures", daemon=True)
            self._drawing.start()

    def close(self) -> None:
        self.closed = True

    def items(self) -> Iterator[tuple[Explanation, int]]:
        """``(explanation, i)`` for every captured input, in order."""
        for expl in self.explanations:
            for i in range(len(expl.scores)):
                yield expl, i


def _first(expl: Explanation, n: int) -> Explanation:
    """``expl`` cut to its first ``n`` inputs (units re-padded to their own largest count)."""
    import dataclasses

    import torch

    units = expl.units.select(torch.arange(n))
    b = len(expl.scores)
    return dataclasses.replace(
        expl,
        units=units,
        scores=expl.scores[:n, : units.max_units],
        target=None if expl.target is None else expl.target[:n],
        target_names=None if expl.target_names is None else expl.target_names[:n],
        extras={k: _head(v, b, n) for k, v in expl.extras.items()},
    )


def _head(value: object, b: int, n: int) -> object:
    """The first ``n`` of a per-input value of a batch of ``b`` (anything else as it is)."""
    if isinstance(value, list | tuple) and len(value) == b:
        return value[:n]
    shape = getattr(value, "shape", None)
    return value[:n] if shape is not None and len(shape) and shape[0] == b else value


def _first_curves(curves: Curves, n: int, k: int) -> Curves:
    """``curves`` cut to their first ``n`` inputs and ``k`` units."""
    import dataclasses

    return dataclasses.replace(
        curves,
        deletion=curves.deletion[:n, : k + 1],
        insertion=curves.insertion[:n, : k + 1],
        deletion_auc=curves.deletion_auc[:n],
        insertion_auc=curves.insertion_auc[:n],
        n_units=curves.n_units[:n],
    )


class BackgroundSink:
    """Runs ``sink``'s `add` on a writer thread, at most ``depth`` results waiting (no unbounded
    memory); `close` waits for the writes and closes ``sink``; a failed write is raised here."""

    def __init__(self, sink: Sink, depth: int = 2) -> None:
        self.sink = sink
        self._writer: Writer[BatchResult] = Writer(sink.add, depth)

    def add(self, result: BatchResult) -> None:
        self._writer.put(result)

    def close(self) -> None:
        self._writer.close()
        self.sink.close()
