"""What a job computes, one object per command: `ExplainCommand` (one method's explanations, a row
per input) and `EvaluateCommand` (several methods' figures, a row per input and method). Each knows
its methods' rule, its rows' schema, how a batch is prepared and turned into rows, and what its
summary adds, so that the spec, the worker and the run ask it instead of comparing names."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from strokelens.errors import StrokelensError
from strokelens.jobs.rows import COMMON_COLUMNS, EXPLAIN_SCHEMA, Item, evaluate_schema, skipped_row
from strokelens.methods import get_method
from strokelens.runner import Batch, BatchResult, BatchRunner, PicturesSink
from strokelens.views.base import View


class Spec(Protocol):
    """What a command reads of its job's `JobSpec` (not imported here: the spec asks its command)."""

    methods: tuple[str, ...]
    units: str | None
    unit_options: dict[str, Any]
    options: dict[str, dict[str, Any]]
    seed: int
    score: str


class Worker(Protocol):
    """What a command reads of the worker that runs it (`ShardWorker`)."""

    spec: Spec
    pictures: PicturesSink | None

    @property
    def view(self) -> View: ...

    @property
    def runner(self) -> BatchRunner: ...


class JobCommand(ABC):
    """One kind of job: ``name`` is what the manifest and the CLI call it."""

    name: ClassVar[str]
    #: Whether the report's pictures can be captured while it runs (they need explanations).
    captures_pictures: ClassVar[bool] = False

    def __reduce__(self) -> tuple[Callable[[str], JobCommand], tuple[str]]:  # the one instance
        return command_named, (self.name,)

    @abstractmethod
    def check_methods(self, methods: Sequence[str]) -> None:
        """Refuse a list of methods this command cannot run."""

    @abstractmethod
    def rows_per_input(self, methods: Sequence[str]) -> int:
        """Rows a job writes for each input."""

    @abstractmethod
    def schema(self, per: str) -> pa.Schema:
        """The rows' schema (``per``: ``sketch`` or ``image``, what the view explains)."""

    @abstractmethod
    def load(self, worker: Worker) -> None:
        """Load what the work needs (the model, the method) before any input is guarded."""

    @abstractmethod
    def prepare(self, worker: Worker, inputs: list[Any], target: Any, items: list[Item]) -> Batch:
        """The batch of ``inputs`` (as the view takes them) and their ``items``."""

    @abstractmethod
    def batch_rows(self, worker: Worker, batch: Batch) -> list[dict[str, Any]]:
        """The rows of a prepared batch, in input order."""

    def summary_extra(self, rows: pa.Table, methods: Sequence[str]) -> dict[str, Any]:
        """What a finished job's summary holds beside its counts (nothing, unless said)."""
        return {}


class ExplainCommand(JobCommand):
    """One method's explanation of each input: its scores, evaluations and seconds."""

    name = "explain"
    captures_pictures = True

    def check_methods(self, methods: Sequence[str]) -> None:
        if len(methods) != 1:
            raise StrokelensError(f"an explain job runs one method, got {len(methods)}")

    def rows_per_input(self, methods: Sequence[str]) -> int:
        return 1

    def schema(self, per: str) -> pa.Schema:
        return EXPLAIN_SCHEMA

    def load(self, worker: Worker) -> None:
        _ = worker.runner

    def prepare(self, worker: Worker, inputs: list[Any], target: Any, items: list[Item]) -> Batch:
        return worker.runner.prepare(inputs, target, tags=items)

    def batch_rows(self, worker: Worker, batch: Batch) -> list[dict[str, Any]]:
        pictures = worker.pictures
        curves = pictures is not None and pictures.wants_more
        result = worker.runner.run_batch(batch, curves=curves)
        if curves:
            pictures.add(result)
        return explain_rows(result, worker.spec.methods[0])


class EvaluateCommand(JobCommand):
    """Each method's figures on each input (`strokelens.evaluation`), and their summary."""

    name = "evaluate"

    def check_methods(self, methods: Sequence[str]) -> None:
        pass  # any number of methods, each checked by `JobSpec.check`

    def rows_per_input(self, methods: Sequence[str]) -> int:
        return len(methods)

    def schema(self, per: str) -> pa.Schema:
        return evaluate_schema(per)

    def load(self, worker: Worker) -> None:
        _ = worker.view

    def prepare(self, worker: Worker, inputs: list[Any], target: Any, items: list[Item]) -> Batch:
        return Batch(0, inputs, None, target, items)  # type: ignore[arg-type]  # evaluate makes its units

    def batch_rows(self, worker: Worker, batch: Batch) -> list[dict[str, Any]]:
        return evaluate_rows(worker.spec, worker.view, batch)

    def summary_extra(self, rows: pa.Table, methods: Sequence[str]) -> dict[str, Any]:
        return {"figures": method_figures(rows, methods)}


#: The commands by name.
COMMANDS: dict[str, JobCommand] = {c.name: c for c in (ExplainCommand(), EvaluateCommand())}


def command_named(name: str) -> JobCommand:
    """The command called ``name``; any other name is refused with the list."""
    try:
        return COMMANDS[name]
    except KeyError:
        raise StrokelensError(f"job command must be one of {', '.join(COMMANDS)}, got {name!r}") from None


def over_limit(n_units: int | str, method: str) -> str:
    """Why an input of ``n_units`` units was skipped by ``method``."""
    return f"{n_units} units exceed {method}'s limit of {get_method(method).max_units}"


def explain_rows(result: BatchResult, method: str) -> list[dict[str, Any]]:
    """One row per input of ``result``'s batch: its scores, or why it was skipped."""
    items, expl, kept = result.batch.tags, result.explanation, result.rows.tolist()
    units = result.batch.units
    rows: list[dict[str, Any] | None] = [None] * len(items)
    for i in result.skipped:
        reason = over_limit(int(units.n_units[i]), method)
        rows[i] = skipped_row(items[i].source, items[i].index, reason, method, **items[i].ids())
    if expl is not None:
        seconds = result.seconds / len(kept)
        n_units = expl.units.n_units.tolist()
        targets = expl.target.tolist() if expl.target is not None else [None] * len(kept)
        names = expl.target_names
        for j, i in enumerate(kept):
            item = items[i]
            rows[i] = {
                "source": item.source,
                "index": item.index,
                **item.ids(),
                "status": "ok",
                "method": method,
                "units": expl.units.kind,
                "n_units": n_units[j],
                "target": targets[j],
                "target_name": names[j] if names else None,
                "scores": expl.scores[j, : n_units[j]].tolist(),
                "evaluations": float(expl.evaluations),
                "seconds": seconds,
            }
    return rows  # type: ignore[return-value]


def evaluate_rows(spec: Spec, view: View, batch: Batch) -> list[dict[str, Any]]:
    """One row per input of ``batch`` and method of ``spec`` (a `JobSpec`): its figures, or why it
    was skipped."""
    from strokelens.evaluation import evaluate

    items, inputs = batch.tags, batch.inputs
    unit_options = dict(spec.unit_options)
    if spec.units is not None:
        unit_options["kind"] = spec.units
    reports = evaluate(
        view,
        inputs,
        spec.methods,
        batch_size=len(inputs),
        target=batch.target,
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
                reason = over_limit(common.get(i, {}).get("n_units", "its"), method)
                out.append({**ids, **skipped_row(item.source, item.index, reason, method)})
                continue
            figures = {name: vals[j] for name, vals in report.values.items()}
            out.append({**ids, "status": "ok", "method": method, **figures})
    return out


def method_figures(rows: pa.Table, methods: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each method's figures over its done rows, as `MethodReport.summary` gives them."""
    import pyarrow.compute as pc

    from strokelens.evaluation import MethodReport

    figures = [n for n in rows.column_names if n not in COMMON_COLUMNS]
    ok = rows.filter(pc.equal(rows.column("status"), "ok"))
    out = {}
    for method in methods:
        mine = ok.filter(pc.equal(ok.column("method"), method))
        report = MethodReport()
        for name in figures:  # a null figure (not measured) is NaN, as MethodReport expects
            report.add(name, mine.column(name).to_numpy(zero_copy_only=False).astype(float).tolist())
        out[method] = report.summary()
    return out
