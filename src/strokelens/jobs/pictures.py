"""The pictures and the report of an explain job: only for the first drawings, which the report
shows, with their deletion/insertion curves (the shards hold every drawing's scores). A local job
captures them as it runs (`run_job(pictures=N)`); otherwise (Ray, a resumed job) they are read back
and explained again."""

from __future__ import annotations

import functools
import os
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.jobs.folder import JobFolder
from strokelens.jobs.spec import JobSpec
from strokelens.runner import PicturesSink
from strokelens.views.base import View


def drawer(out_dir: str | os.PathLike[str], title: str, extra: dict[str, Any] | None = None):
    """``draw(sink)`` for `run_job`: the captured pictures, records and report into ``out_dir``."""
    return functools.partial(_draw, out_dir=out_dir, title=title, extra=extra)


def _draw(
    sink: PicturesSink, out_dir: str | os.PathLike[str], title: str, extra: dict[str, Any] | None
) -> None:
    from strokelens.explain import save_explanations

    save_explanations(sink, out_dir, title, extra)


def first_inputs(folder: JobFolder, spec: JobSpec, count: int) -> list[Any]:
    """The first ``count`` inputs the job explained (skipped ones left out), read from their files."""
    rows = folder.read_rows().select(["source", "index", "status"]).to_pylist()
    done = [r for r in rows if r["status"] == "ok"][:count]
    out = []
    for r in done:
        ((_, value),) = list(spec.files.records(r["source"], r["index"], 1))
        if isinstance(value, StrokelensError):
            raise value
        out.append(value)
    return out


def write_pictures(
    folder: JobFolder,
    spec: JobSpec,
    view: View,
    count: int,
    title: str,
    extra: dict[str, Any] | None = None,
    captured: PicturesSink | None = None,
) -> int:
    """Pictures, ``explanations.jsonl`` and ``report.html`` of the first ``count`` explained inputs
    in ``folder`` (``captured``: those the job kept, used when it holds them all); returns how many
    (0: nothing written)."""
    from strokelens.explain import explain, save_explanations

    if captured is not None and captured.taken and captured.taken == min(count, _ok_rows(folder)):
        if not captured.draws:
            save_explanations(captured, folder.path, title, extra)
        captured.finish()
        return captured.taken
    inputs = first_inputs(folder, spec, count) if count else []
    if not inputs:
        return 0
    inputs = view.prepare(inputs)
    target = spec.target_for(inputs, view.class_names)
    (method,) = spec.methods
    run = explain(
        view,
        inputs,
        method,
        target=target,
        units=spec.units,
        unit_options=spec.unit_options,
        batch_size=spec.batch_size,
        seed=spec.seed,
        score=spec.score,
        options=spec.options.get(method, {}),
    )
    save_explanations(run, folder.path, title, extra)
    return len(inputs)


def _ok_rows(folder: JobFolder) -> int:
    """Rows done (not skipped) in the finished job in ``folder``."""
    import json

    summary = folder.path / "summary.json"
    if summary.is_file():
        return int(json.loads(summary.read_text(encoding="utf-8"))["ok"])
    return -1
