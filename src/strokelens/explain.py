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
from typing import Any

from strokelens.attribution.base import check_options
from strokelens.errors import StrokelensError
from strokelens.explanation import Explanation
from strokelens.games import Target, slice_target
from strokelens.methods import get_method
from strokelens.metrics import Curves, deletion_insertion
from strokelens.views.base import View


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
    ``on_batch(n)`` is called after each batch of ``n`` inputs.
    """
    inputs = list(inputs)
    if not inputs:
        raise StrokelensError("no inputs to explain")
    if batch_size < 1:
        raise StrokelensError(f"batch_size must be at least 1, got {batch_size}")
    method_cls = get_method(method)
    options = options or {}
    check_options(method_cls, options)
    kind = method_cls.unit_kind(view, units)
    run = ExplainRun(method)
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        unit_set = view.units_for(chunk, kind, **(unit_options or {}))
        batch_target = slice_target(target, start, start + len(chunk), len(inputs))
        expl = method_cls(view).attribute(unit_set, target=batch_target, seed=seed, score=score, **options)
        run.explanations.append(expl)
        if curves:
            game_target = expl.target if expl.target is not None else batch_target
            run.curves.append(deletion_insertion(view.game(expl.units, game_target, score), expl.scores))
        if on_batch is not None:
            on_batch(len(chunk))
    return run


def save_explanations(
    run: ExplainRun, out_dir: str | os.PathLike[str], title: str, records_extra: dict[str, Any] | None = None
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
    write_any_report(out / "report.html", {run.method: run.explanations}, {run.method: run.curves}, title)
    return records
