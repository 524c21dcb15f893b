"""The batch runner (`strokelens.runner`): its threads pass errors back and hold few items, the unit
limit is applied once, and the sinks see what `explain` sees."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from strokelens.errors import StrokelensError
from strokelens.runner import BatchRunner, MemorySink, MethodRun, PicturesSink, prefetch
from strokelens.runner.threads import Writer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_prefetch_keeps_order_and_raises_where_the_source_failed():
    def source():
        yield from range(5)
        raise StrokelensError("bad record")

    got = []
    with pytest.raises(StrokelensError, match="bad record"):
        for x in prefetch(source(), depth=2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_runs_at_most_depth_ahead():
    made = []

    def source():
        for i in range(100):
            made.append(i)
            yield i

    it = prefetch(source(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(made) <= 4  # the item handed out, two waiting, one blocked on the full queue
    it.close()


def test_writer_is_bounded_ordered_and_passes_errors_back():
    gate, seen = threading.Event(), []

    def write(x: int) -> None:
        gate.wait()
        seen.append(x)

    writer = Writer(write, depth=1)
    writer.put(0)
    writer.put(1)  # the first is being written, this one waits in the queue
    blocked = threading.Thread(target=writer.put, args=(2,))
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive()  # a full queue blocks the caller
    gate.set()
    blocked.join()
    writer.close()
    assert seen == [0, 1, 2]

    def fail(_: int) -> None:
        raise StrokelensError("disk full")

    failing = Writer(fail)
    failing.put(0)
    with pytest.raises(StrokelensError, match="disk full"):
        failing.close()


@pytest.fixture(scope="module")
def view(doodlenet):
    from strokelens.views import view_for

    return view_for(doodlenet)


@pytest.fixture(scope="module")
def sketches(spg_dir, view):
    from strokelens.io import read_sketches

    return view.prepare(list(read_sketches(spg_dir / "pig.ndjson.gz", limit=20)))


def test_runner_skips_inputs_over_the_limit_once(view, sketches):
    runner = BatchRunner(view, MethodRun.of("shapley"), batch_size=20, skip_over_limit=True)
    batch = runner.prepare(sketches)
    result = runner.run_batch(batch)
    n_units = batch.units.n_units.cpu()
    limit = MethodRun.of("shapley").max_units
    assert result.rows.tolist() == (n_units <= limit).nonzero()[:, 0].tolist()
    assert result.skipped == (n_units > limit).nonzero()[:, 0].tolist()
    assert result.explanation is not None and len(result.explanation.scores) == len(result.rows)


def test_pictures_sink_holds_the_first_inputs_as_explain_gives_them(view, sketches):
    from strokelens.explain import explain

    runner = BatchRunner(view, MethodRun.of("sla"), batch_size=8, curves=True)
    memory, pictures = MemorySink(), PicturesSink(11)
    runner.run(sketches, [memory, pictures])
    assert len(memory.explanations) == 3 and pictures.taken == 11
    direct = explain(view, sketches[:11], "sla", batch_size=8)
    got, want = list(pictures.items()), list(direct.items())
    assert len(got) == len(want) == 11
    for (a, i), (b, j) in zip(got, want, strict=True):
        # float32 gradients: a batch of 8 and one of 3 take different convolution kernels
        assert a.unit_scores(i) == pytest.approx(b.unit_scores(j), rel=1e-5, abs=1e-5)
        assert a.target_names[i] == b.target_names[j]
    for a, b in zip(pictures.curves, direct.curves, strict=True):
        assert torch.allclose(a.deletion_auc, b.deletion_auc, atol=1e-5)
        assert a.deletion.shape == b.deletion.shape
