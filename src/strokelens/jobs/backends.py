"""Where a job's shards are computed: here, one after another (``local``), or on a Ray cluster
(``ray``: Ray Data ``map_batches`` over the shards with an actor pool, each actor holding the model).
Both hand each finished shard's Parquet bytes to ``on_shard``, which the driver writes, so both
backends leave the same files."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.jobs.plan import Shard
from strokelens.jobs.spec import JobSpec
from strokelens.jobs.worker import ShardWorker
from strokelens.runner import PicturesSink
from strokelens.runner.threads import Writer
from strokelens.views.base import View

BACKENDS = ("local", "ray")

#: ``on_shard(shard, parquet_bytes, rows)``
OnShard = Callable[[Shard, bytes, int], None]


def run_local(
    spec: JobSpec,
    load_view: Callable[[], View],
    shards: Sequence[Shard],
    on_shard: OnShard,
    on_rows: Callable[[int], None] | None = None,
    pictures: PicturesSink | None = None,
) -> None:
    """Compute ``shards`` in this process, in order; ``on_rows(n)`` after every batch of drawings.
    Each finished shard is encoded and handed to ``on_shard`` on a writer thread (at most two
    waiting), while the model goes on with the next; ``pictures`` captures the report's inputs."""
    worker = ShardWorker(spec, load_view, on_rows=on_rows, pictures=pictures)

    def write(done: tuple[Shard, list[dict[str, Any]]]) -> None:
        shard, rows = done
        on_shard(shard, worker.encode(rows), len(rows))

    writer: Writer[tuple[Shard, list[dict[str, Any]]]] = Writer(write, depth=2, name="strokelens-shards")
    try:
        worker.stream(shards, lambda shard, rows: writer.put((shard, rows)))
    finally:
        writer.close()


class _ShardActor:
    """A Ray Data actor: loads the model once, then turns shard plans into Parquet bytes."""

    def __init__(self, spec: dict[str, Any], load_view: Callable[[], View]) -> None:
        self.worker = ShardWorker(JobSpec.from_json(spec), load_view)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {"shard": [], "data": [], "rows": []}
        for text in batch["shard"]:
            shard = Shard.from_json(json.loads(text))
            data, rows = self.worker.shard_bytes(shard)
            out["shard"].append(text)
            out["data"].append(data)
            out["rows"].append(rows)
        return out


def run_ray(
    spec: JobSpec,
    load_view: Callable[[], View],
    shards: Sequence[Shard],
    on_shard: OnShard,
    workers: int = 2,
    address: str | None = None,
    gpus_per_worker: float = 0,
) -> None:
    """Compute ``shards`` on Ray: a local Ray with ``workers`` CPUs when none is running and no
    ``address`` is given, else the cluster at ``address`` (or the running one); ``workers`` actors
    each hold the model. Shards come back as Parquet bytes and are written here."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise StrokelensError("--backend ray needs Ray Data: pip install 'ray[data]'") from None
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
        ray.init(**kwargs, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    items = [{"shard": json.dumps(s.to_json())} for s in shards]
    resources = {"num_gpus": gpus_per_worker} if gpus_per_worker else {"num_cpus": 1}
    results = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _ShardActor,
        fn_constructor_args=(spec.to_json(), load_view),
        batch_size=1,
        concurrency=workers,
        **resources,
    )
    by_id = {s.id: s for s in shards}
    for row in results.iter_rows():
        shard = by_id[json.loads(row["shard"])["id"]]
        on_shard(shard, row["data"], int(row["rows"]))
