"""`ShardWorker`: computes shards' rows, holding the model. The local backend keeps one and streams
every shard through it; on Ray each actor of the pool holds its own. A drawing that cannot be read,
that a method cannot take or that the model refuses becomes a skipped row with the reason, and the
rest of its batch goes on. What a batch becomes is the job's command's (`strokelens.jobs.commands`:
an explain job's method runs through a `BatchRunner`, an evaluate job's methods through `evaluate`);
reading and preparing the next batches (a raster view's simplification, the units) happen in a
prefetch thread, across shards."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from strokelens.errors import StrokelensError
from strokelens.jobs.plan import Shard
from strokelens.jobs.rows import Item, parquet_bytes, skipped_row, table
from strokelens.jobs.spec import JobSpec
from strokelens.kinds import InputFiles
from strokelens.runner import Batch, BatchRunner, MethodRun, PicturesSink, prefetch
from strokelens.views.base import View

#: ``on_shard_rows(shard, rows)``: a shard's rows, in input order, once all are computed.
OnShardRows = Callable[[Shard, list[dict[str, Any]]], None]


class Unreadable(NamedTuple):
    """An input that could not be read, and why."""

    item: Item
    reason: str


def shard_items(shard: Shard, files: InputFiles) -> Iterator[Item | Unreadable]:
    """The inputs of ``shard`` in order: an `Item`, or an `Unreadable` for one that cannot be read."""
    for seg in shard.segments:
        if seg.problem is not None:
            yield Unreadable(Item(seg.source, None, None), seg.problem)
        else:
            got = 0
            for index, record in files.records(seg.source, seg.start, seg.count):
                if isinstance(record, StrokelensError):
                    yield Unreadable(Item(seg.source, index, None), str(record))
                else:
                    yield Item(seg.source, index, record)
                got += 1
            for index in range(seg.start + got, seg.start + seg.count):  # the file ended early
                yield Unreadable(Item(seg.source, index, None), f"{seg.source}: record {index} is missing")


class _Prepared(NamedTuple):
    """A batch of readable inputs, prepared by the prefetch thread (or the error preparing them)."""

    items: list[Item]
    batch: Batch | StrokelensError


class _ShardEnd(NamedTuple):
    """Every input of ``shard`` has gone before."""

    shard: Shard


class ShardWorker:
    """Computes shards of ``spec`` with the view ``load_view()`` returns (loaded on first use).
    ``pictures``: captures the first explained inputs for the report while the job runs."""

    def __init__(
        self,
        spec: JobSpec,
        load_view: Callable[[], View],
        on_rows: Callable[[int], None] | None = None,
        pictures: PicturesSink | None = None,
    ) -> None:
        self.spec = spec
        self._load_view = load_view
        self._view: View | None = None
        self._runner: BatchRunner | None = None
        self._on_rows = on_rows
        self.pictures = pictures

    @property
    def view(self) -> View:
        """The model's view, loaded and checked against the spec on first use."""
        if self._view is None:
            view = self._load_view()
            self.spec.check(view.class_names)
            self._view = view
        return self._view

    @property
    def runner(self) -> BatchRunner:
        """The explain job's method, configured as the spec says (skipping inputs over its limit)."""
        if self._runner is None:
            spec = self.spec
            (method,) = spec.methods
            configured = MethodRun.of(
                method,
                spec.options.get(method),
                units=spec.units,
                unit_options=spec.unit_options,
                seed=spec.seed,
                score=spec.score,
            )
            self._runner = BatchRunner(
                self.view, configured, batch_size=spec.batch_size, skip_over_limit=True
            )
        return self._runner

    def stream(self, shards: Sequence[Shard], on_shard_rows: OnShardRows) -> None:
        """Compute ``shards`` in order, handing each one's rows to ``on_shard_rows`` as it completes
        (evaluate: each input's methods in spec order). The next batches are read and prepared in a
        background thread while the model works, across shard boundaries."""
        self.spec.job_command.load(self)  # outside the guards: a model that cannot load is an error
        rows: list[dict[str, Any]] = []
        for step in prefetch(self._steps(shards)):
            match step:
                case _ShardEnd(shard):
                    on_shard_rows(shard, rows)
                    rows = []
                case Unreadable(item, reason):
                    rows.extend(skipped_row(item.source, item.index, reason, m) for m in self.spec.methods)
                    self._advance(1)
                case _Prepared(items, batch):
                    rows.extend(self._guarded(items, batch))
                case _:
                    raise TypeError(f"the prefetch thread handed over {type(step).__name__}")

    def rows(self, shard: Shard) -> list[dict[str, Any]]:
        """The rows of ``shard``, in input order."""
        out: list[dict[str, Any]] = []
        self.stream([shard], lambda _, rows: out.extend(rows))
        return out

    def shard_bytes(self, shard: Shard) -> tuple[bytes, int]:
        """``(parquet bytes, rows)`` of ``shard``."""
        rows = self.rows(shard)
        return self.encode(rows), len(rows)

    def encode(self, rows: list[dict[str, Any]]) -> bytes:
        """Rows as the bytes of a Parquet shard."""
        return parquet_bytes(table(rows, self.spec.job_command.schema(self.view.kind.item)))

    def _steps(self, shards: Sequence[Shard]) -> Iterator[_Prepared | Unreadable | _ShardEnd]:
        """Each shard's batches and unreadable inputs in order, then its end: the work of the
        prefetch thread."""
        for shard in shards:
            batch: list[Item] = []
            for entry in shard_items(shard, self.spec.files):
                if isinstance(entry, Unreadable):
                    if batch:
                        yield _Prepared(batch, self._try_prepare(batch))
                        batch = []
                    yield entry
                    continue
                batch.append(entry)
                if len(batch) == self.spec.batch_size:
                    yield _Prepared(batch, self._try_prepare(batch))
                    batch = []
            if batch:
                yield _Prepared(batch, self._try_prepare(batch))
            yield _ShardEnd(shard)

    def _try_prepare(self, items: Sequence[Item]) -> Batch | StrokelensError:
        try:
            return self._prepare(items)
        except StrokelensError as exc:
            return exc

    def _advance(self, n: int) -> None:
        if self._on_rows is not None:
            self._on_rows(n)

    def _guarded(self, items: Sequence[Item], prepared: Batch | StrokelensError | None = None) -> list[dict]:
        """Rows of ``items`` (``prepared``: their batch, prepared ahead); when the batch fails with a
        user-facing error, each input on its own, so that only the inputs that cause it are skipped."""
        try:
            if isinstance(prepared, StrokelensError):
                raise prepared
            rows = self._batch_rows(prepared if prepared is not None else self._prepare(items))
            self._advance(len(items))
            return rows
        except StrokelensError as exc:
            if len(items) == 1:
                item = items[0]
                self._advance(1)
                return [
                    skipped_row(item.source, item.index, str(exc), m, **item.ids()) for m in self.spec.methods
                ]
        return [row for item in items for row in self._guarded([item])]

    def _prepare(self, items: Sequence[Item]) -> Batch:
        """The batch of ``items``: the inputs as the view takes them, their units (explain; evaluate
        makes its own) and the target resolved where it depends on the inputs."""
        view, spec = self.view, self.spec
        inputs = [it.value for it in items]
        inputs = view.prepare(inputs)
        target = spec.target_for(inputs, view.class_names)
        return spec.job_command.prepare(self, inputs, target, list(items))

    def _batch_rows(self, batch: Batch) -> list[dict[str, Any]]:
        return self.spec.job_command.batch_rows(self, batch)
