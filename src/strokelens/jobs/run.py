"""`run_job`: plan a dataset job's shards, compute the ones not done yet on a backend, and summarise."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.jobs.backends import BACKENDS, run_local, run_ray
from strokelens.jobs.commands import command_named
from strokelens.jobs.folder import JobFolder
from strokelens.jobs.plan import Shard, file_segments, plan_shards
from strokelens.jobs.spec import JobSpec
from strokelens.runner import PicturesSink
from strokelens.views.base import View

#: The manifest's list of done shards is rewritten at most this often (and at the end): a shard's
#: file on disk is what marks it done, so a lagging list loses nothing.
MANIFEST_EVERY_S = 2.0


@dataclass
class JobResult:
    """What `run_job` did: the folder, its summary, how many rows this call computed in how long, and
    the report's inputs it captured on the way (None: none)."""

    folder: JobFolder
    summary: dict[str, Any]
    computed_rows: int
    seconds: float
    already_finished: bool
    pictures: PicturesSink | None = None

    @property
    def computed_inputs(self) -> int:
        """Drawings (or photos) this call computed."""
        per_input = command_named(self.summary["command"]).rows_per_input(self.summary["methods"])
        return self.computed_rows // per_input


class _Progress:
    """Keeps the manifest's done list and the counts up to date as shards finish."""

    def __init__(self, folder: JobFolder, manifest: dict[str, Any], done: set[int], per_input: int) -> None:
        self.folder, self.manifest, self.per_input = folder, manifest, per_input
        self.done = set(done)
        self.rows = 0
        self.last_write = 0.0

    def shard_done(self, shard: Shard, data: bytes, rows: int) -> None:
        if rows != shard.rows * self.per_input:
            raise StrokelensError(f"shard {shard.id}: {rows} rows for {shard.rows} inputs")
        self.folder.write_shard(shard, data)
        self.done.add(shard.id)
        self.rows += rows
        if time.monotonic() - self.last_write > MANIFEST_EVERY_S:
            self.flush()

    def flush(self, **extra: Any) -> None:
        self.manifest.update(done=sorted(self.done), **extra)
        self.folder.write_manifest(self.manifest)
        self.last_write = time.monotonic()


def run_job(
    spec: JobSpec,
    files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    load_view: Callable[[], View],
    *,
    resume: bool = False,
    backend: str = "local",
    workers: int = 2,
    ray_address: str | None = None,
    gpus_per_worker: float = 0,
    on_start: Callable[[int, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    pictures: int = 0,
    draw: Callable[[PicturesSink], object] | None = None,
) -> JobResult:
    """Run ``spec`` over ``files`` into ``out_dir`` (see `JobFolder` for what it holds).

    ``load_view()`` returns the view of the model (called once per worker; on Ray it is pickled to
    the actors). ``resume``: continue the job in ``out_dir`` (or start it if there is none); without
    it a folder that holds a job is an error. ``on_start(total_rows, rows_done)`` is called once
    before work, ``on_rows(n)`` as rows finish (progress bars). ``pictures``: capture the first
    this many explained inputs for the report as the job runs (`JobResult.pictures`; local explain
    jobs that compute the first shard only), drawn by ``draw(sink)`` on a background thread as
    soon as they are in.
    """
    if backend not in BACKENDS:
        raise StrokelensError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    files = [str(f) for f in files]
    if not files:
        raise StrokelensError("no input files")
    shards = plan_shards(file_segments(files, spec.kind, spec.limit), spec.shard_size)
    folder = JobFolder(out_dir)
    manifest = folder.start(spec, files, shards, resume)
    done = folder.done_shards(shards, spec.rows_per_input)
    todo = [s for s in shards if s.id not in done]
    if on_start is not None:
        on_start(sum(s.rows for s in shards), sum(s.rows for s in shards if s.id in done))
    progress = _Progress(folder, manifest, done, spec.rows_per_input)
    start = time.perf_counter()
    already = bool(manifest.get("finished")) and not todo
    captured = None
    if pictures and spec.job_command.captures_pictures and backend == "local" and todo and todo[0].id == 0:
        captured = PicturesSink(pictures, draw)
    if todo and backend == "local":
        run_local(spec, load_view, todo, progress.shard_done, on_rows=on_rows, pictures=captured)
    elif todo:

        def shard_done(shard: Shard, data: bytes, rows: int) -> None:
            progress.shard_done(shard, data, rows)
            if on_rows is not None:
                on_rows(shard.rows)

        run_ray(spec, load_view, todo, shard_done, workers, ray_address, gpus_per_worker)
    seconds = time.perf_counter() - start
    summary = summarise(folder, spec)
    if not already:
        folder.write_summary(summary)
    progress.flush(finished=True)
    return JobResult(folder, summary, progress.rows, seconds, already, captured)


def summarise(folder: JobFolder, spec: JobSpec) -> dict[str, Any]:
    """Counts of a finished job's rows (done, skipped and why) and what its command adds (evaluate:
    each method's figures over its rows, `commands.method_figures`)."""
    rows = folder.read_rows()
    status = rows.column("status").to_pylist()
    reasons = Counter(
        r for r, s in zip(rows.column("reason").to_pylist(), status, strict=True) if s == "skipped"
    )
    out: dict[str, Any] = {
        "command": spec.command,
        "methods": list(spec.methods),
        "rows": rows.num_rows,
        "ok": status.count("ok"),
        "skipped": status.count("skipped"),
        "skipped_reasons": dict(reasons.most_common(20)),
    }
    out.update(spec.job_command.summary_extra(rows, spec.methods))
    return out


def rows_equal(a: str | Path, b: str | Path) -> bool:
    """True when two job folders hold the same rows, timings aside."""
    from strokelens.jobs.rows import TIMING_COLUMNS

    ta, tb = JobFolder(a).read_rows(), JobFolder(b).read_rows()
    keep = [c for c in ta.column_names if c not in TIMING_COLUMNS]
    return ta.select(keep).equals(tb.select(keep))
