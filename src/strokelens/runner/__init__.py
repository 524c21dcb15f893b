"""One batch runner: a configured method run over any number of inputs, batch by batch, its results
streamed into sinks (in memory, a job's Parquet shards, the report's pictures, a server's replies).

    from strokelens.runner import BatchRunner, MethodRun, MemorySink
    runner = BatchRunner(view, MethodRun.of("sla"), batch_size=32)
    memory = MemorySink()
    runner.run(sketches, [memory])          # memory.explanations, memory.curves

Reading and preparing the next batch (its units) runs in a background thread while the model works
on this one (`prefetch`); a sink that writes can run on a writer thread of its own with a bounded
queue (`BackgroundSink`), so that no stage holds more than a few batches.
"""

from strokelens.runner.batch import Batch, BatchResult
from strokelens.runner.core import BatchRunner, MethodRun, within_limit
from strokelens.runner.sinks import BackgroundSink, CallbackSink, MemorySink, PicturesSink, Sink
from strokelens.runner.threads import prefetch

__all__ = [
    "BackgroundSink",
    "Batch",
    "BatchResult",
    "BatchRunner",
    "CallbackSink",
    "MemorySink",
    "MethodRun",
    "PicturesSink",
    "Sink",
    "prefetch",
    "within_limit",
]
