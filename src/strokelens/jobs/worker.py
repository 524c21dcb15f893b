"""`ShardWorker`: computes one shard's rows, holding the model. The local backend keeps one; on Ray
each actor of the pool holds its own. A drawing that cannot be read, that a method cannot take or that
the model refuses becomes a skipped row with the reason, and the rest of its batch goes on."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.jobs.plan import Shard
from strokelens.jobs.rows import parquet_bytes, schema_for, skipped_row, table
from strokelens.jobs.spec import JobSpec
from strokelens.methods import get_method
from strokelens.views.base import View


class Item:
    """One input of a shard: where it came from, and the drawing (a `Sketch`) or photo path."""

    __slots__ = ("index", "source", "value")

    def __init__(self, source: str, index: int | None, value: Any) -> None:
        self.source, self.index, self.value = source, index, value

    def ids(self) -> dict[str, Any]:
        """The identity columns of its rows (``id`` and ``label`` where the drawing has them)."""
        value = self.value
        return {"id": getattr(value, "key_id", None), "label": getattr(value, "label", None)}


def shard_items(shard: Shard, kind: str) -> list[Item | tuple[Item, str]]:
    """The inputs of ``shard`` in order: an `Item`, or ``(item, reason)`` for one that cannot be read."""
    from strokelens.io import read_records

    out: list[Item | tuple[Item, str]] = []
    for seg in shard.segments:
        if seg.problem is not None:
            out.append((Item(seg.source, None, None), seg.problem))
        elif kind == "image":
            out.append(Item(seg.source, 0, seg.source))
        else:
            got = 0
            for index, record in read_records(seg.source, seg.start, seg.count):
                if isinstance(record, StrokelensError):
                    out.append((Item(seg.source, index, None), str(record)))
                else:
                    out.append(Item(seg.source, index, record))
                got += 1
            for index in range(seg.start + got, seg.start + seg.count):  # the file ended early
                out.append((Item(seg.source, index, None), f"{seg.source}: record {index} is missing"))
    return out


class ShardWorker:
    """Computes shards of ``spec`` with the view ``load_view()`` returns (loaded on first use)."""

    def __init__(
        self, spec: JobSpec, load_view: Callable[[], View], on_rows: Callable[[int], None] | None = None
    ) -> None:
        self.spec = spec
        self._load_view = load_view
        self._view: View | None = None
        self._on_rows = on_rows

    @property
    def view(self) -> View:
        """The model's view, loaded and checked against the spec on first use."""
        if self._view is None:
            view = self._load_view()
            self.spec.check(view.class_names)
            self._view = view
        return self._view

    def rows(self, shard: Shard) -> list[dict[str, Any]]:
        """The rows of ``shard``, in input order (evaluate: each input's methods in spec order).

        Each batch's inputs are prepared (a raster view's simplification, the units: superpixels for
        photos) in a background thread while the model works on the batch before, so the CPU work
        of one overlaps the model's (on CUDA almost wholly)."""
        _ = self.view  # load and check it outside the per-batch error handling
        steps: list[list[Item] | tuple[Item, str]] = []
        batch: list[Item] = []
        for entry in shard_items(shard, self.spec.kind):
            if isinstance(entry, tuple):
                steps += [batch, entry] if batch else [entry]
                batch = []
                continue
            batch.append(entry)
            if len(batch) == self.spec.batch_size:
                steps.append(batch)
                batch = []
        if batch:
            steps.append(batch)
        rows: list[dict[str, Any]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="strokelens-prepare") as pool:
            ahead = [pool.submit(self._prepared, step) if isinstance(step, list) else None for step in steps]
            for step, future in zip(steps, ahead, strict=True):
                if future is None:
                    item, reason = step
                    rows.extend(skipped_row(item.source, item.index, reason, m) for m in self.spec.methods)
                    self._advance(1)
                else:
                    rows.extend(self._guarded(step, future))
        return rows

    def shard_bytes(self, shard: Shard) -> tuple[bytes, int]:
        """``(parquet bytes, rows)`` of ``shard``."""
        rows = self.rows(shard)
        schema = schema_for(self.spec.command, self.view.item_name)
        return parquet_bytes(table(rows, schema)), len(rows)

    def _advance(self, n: int) -> None:
        if self._on_rows is not None:
            self._on_rows(n)

    def _guarded(self, items: Sequence[Item], prepared: Future | None = None) -> list[dict[str, Any]]:
        """Rows of ``items`` (``prepared``: their `_prepared` result, computed ahead); when the batch
        fails with a user-facing error, each input on its own, so that only the inputs that cause it
        are skipped."""
        try:
            batch = prepared.result() if prepared is not None else self._prepared(items)
            rows = self._batch_rows(items, *batch)
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

    def _prepared(self, items: Sequence[Item]) -> tuple[list, Any, Any]:
        """``(inputs, units, target)`` of a batch: the inputs as the view takes them, their units
        (explain; evaluate makes its own) and the target resolved where it depends on the inputs."""
        view, spec = self.view, self.spec
        inputs = [it.value for it in items]
        if spec.kind == "sketch":
            inputs = view.prepare(inputs)
        target = spec.target_for(inputs, view.class_names)
        units = None
        if spec.command == "explain":
            kind = get_method(spec.methods[0]).unit_kind(view, spec.units)
            units = view.units_for(inputs, kind, **spec.unit_options)
        return inputs, units, target

    def _batch_rows(
        self, items: Sequence[Item], inputs: list, units: Any, target: Any
    ) -> list[dict[str, Any]]:
        if self.spec.command == "explain":
            return self._explain_rows(items, units, target)
        return self._evaluate_rows(items, inputs, target)

    def _explain_rows(self, items: Sequence[Item], units: Any, target: Any) -> list[dict[str, Any]]:
        spec, view = self.spec, self.view
        (method,) = spec.methods
        cls = get_method(method)
        rows: dict[int, dict[str, Any]] = {}
        keep = torch.arange(len(items))
        if cls.max_units is not None:
            over = units.n_units.cpu() > cls.max_units
            for i in over.nonzero()[:, 0].tolist():
                k = int(units.n_units[i])
                reason = f"{k} units exceed {method}'s limit of {cls.max_units}"
                rows[i] = skipped_row(items[i].source, items[i].index, reason, method, **items[i].ids())
            keep = (~over).nonzero()[:, 0]
            if not len(keep):
                return [rows[i] for i in range(len(items))]
            if len(keep) < len(items):
                units = units.select(keep)
                if isinstance(target, list):
                    target = [target[i] for i in keep.tolist()]
        start = time.perf_counter()
        expl = cls(view).attribute(
            units, target=target, seed=spec.seed, score=spec.score, **spec.options.get(method, {})
        )
        seconds = (time.perf_counter() - start) / len(keep)
        targets = expl.target.tolist() if expl.target is not None else [None] * len(keep)
        for j, i in enumerate(keep.tolist()):
            item = items[i]
            rows[i] = {
                "source": item.source,
                "index": item.index,
                **item.ids(),
                "status": "ok",
                "method": method,
                "units": units.kind,
                "n_units": int(units.n_units[j]),
                "target": targets[j],
                "target_name": expl.target_names[j] if expl.target_names else None,
                "scores": expl.unit_scores(j),
                "evaluations": float(expl.evaluations),
                "seconds": seconds,
            }
        return [rows[i] for i in range(len(items))]

    def _evaluate_rows(self, items: Sequence[Item], inputs: list, target: Any) -> list[dict[str, Any]]:
        from strokelens.evaluation import evaluate

        spec, view = self.spec, self.view
        unit_options = dict(spec.unit_options)
        if spec.units is not None:
            unit_options["kind"] = spec.units
        reports = evaluate(
            view,
            inputs,
            spec.methods,
            batch_size=len(inputs),
            target=target,
            unit_options=unit_options,
            seed=spec.seed,
            score=spec.score,
            options=spec.options,  # spec.check refused options for methods it does not run
        )
        names = list(view.class_names)
        # What every method's rows share, from any method that measured the input.
        common: dict[int, dict[str, Any]] = {}
        for report in reports.values():
            for i, t, k in zip(report.inputs, report.targets, report.n_units, strict=True):
                common.setdefault(
                    i, {"n_units": k, "target": t, "target_name": names[t] if t is not None else None}
                )
        positions = {m: {i: j for j, i in enumerate(r.inputs)} for m, r in reports.items()}
        out = []
        for i, item in enumerate(items):
            ids = {"source": item.source, "index": item.index, "units": spec.units, **item.ids()}
            ids.update(common.get(i, {}))
            for method in spec.methods:
                report, j = reports[method], positions[method].get(i)
                if j is None:
                    limit = get_method(method).max_units
                    k = common.get(i, {}).get("n_units", "its")
                    reason = f"{k} units exceed {method}'s limit of {limit}"
                    out.append({**ids, **skipped_row(item.source, item.index, reason, method)})
                    continue
                figures = {name: vals[j] for name, vals in report.values.items()}
                out.append({**ids, "status": "ok", "method": method, **figures})
        return out
