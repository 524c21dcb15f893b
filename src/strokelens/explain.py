"""Explaining many inputs with one method: the loop behind ``strokelens explain``, as a library call.

`explain` runs a method over sketches or photos in batches, with deletion/insertion curves;
`save_explanations` writes ``explanations.jsonl``, a picture per input and ``report.html``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.games import Target
from strokelens.runner import BatchRunner, CallbackSink, MemorySink, MethodRun, PicturesSink, Sink
from strokelens.views.base import View

if TYPE_CHECKING:
    from strokelens.metrics import Curves


@dataclass
class ExplainRun:
    """One method's explanations of many inputs, batch by batch, with their curves."""

    method: str
    explanations: list[Explanation] = field(default_factory=list)
    curves: list[Curves] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(e.scores) for e in self.explanations)

    def items(self) -> Iterator[tuple[Explanation, int]]:
        """``(explanation, i)`` for every input, in order."""
        for expl in self.explanations:
            for i in range(len(expl.scores)):
                yield expl, i


def explain(
    view: View,
    inputs: Sequence[Any],
    method: str = "sla",
    *,
    target: Target = "auto",
    units: str | None = None,
    unit_options: dict[str, Any] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    score: str = "logit",
    options: dict[str, Any] | None = None,
    curves: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> ExplainRun:
    """Explain ``view``'s model on every input with ``method`` (its ``options`` checked first).

    ``units``: the unit kind (default: the method's own where the view has it, e.g. pieces for
    P-SLA); ``unit_options``: how the view makes units (``pieces_per_stroke``, ``n_segments``, ...).
    ``curves``: also measure deletion/insertion curves for the explained targets.
    ``on_batch(n)`` is called after each batch of ``n`` inputs. A `BatchRunner` does the work.
    """
    inputs = list(inputs)
    if not inputs:
        raise StrokelensError("no inputs to explain")
    configured = MethodRun.of(
        method, options, units=units, unit_options=unit_options or {}, seed=seed, score=score
    )
    runner = BatchRunner(view, configured, batch_size=batch_size, curves=curves)
    memory = MemorySink()
    sinks: list[Sink] = [memory]
    if on_batch is not None:
        sinks.append(CallbackSink(lambda result: on_batch(len(result.batch))))
    runner.run(inputs, sinks, target)
    return ExplainRun(method, memory.explanations, memory.curves)


def save_explanations(
    run: ExplainRun | PicturesSink,
    out_dir: str | os.PathLike[str],
    title: str,
    records_extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Write ``explanations.jsonl`` (one record per input), a picture per input (sketches: PNG and
    SVG; photos: an overlay PNG and a 16-bit label map) and ``report.html``. Returns the records."""
    from strokelens.viz.output import save_item_pictures, write_any_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for n, (expl, i) in enumerate(run.items()):
        record = expl.record(i)
        record.update(save_item_pictures(expl, i, out, f"{n:04d}"))
        record.update(records_extra or {})
        records.append(record)
    with open(out / "explanations.jsonl", "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    name = run.method if isinstance(run, ExplainRun) else run.explanations[0].method
    write_any_report(out / "report.html", {name: run.explanations}, {name: run.curves}, title)
    return records
