"""How `strokelens serve` spreads its work: assist requests go to the least busy worker process, the
strokes a class lends are read once for all of a model's processes, the predict/explain worker
thread yields the CPU to assists, and TF.js models run channels-last."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from strokelens.assist import Donors
from strokelens.io import read_sketches
from strokelens.serve.app import FAST_NICE, _item, create_app
from strokelens.serve.batcher import Batcher, lower_thread_priority
from strokelens.serve.drawing import to_strokes
from strokelens.serve.workers import AssistProcess

pytestmark = pytest.mark.usefixtures("one_thread")


def held_batcher(max_batch: int = 2) -> tuple[Batcher, threading.Event, threading.Event]:
    """A batcher whose runs wait for ``gate``; ``started`` is set when a run begins."""
    started, gate = threading.Event(), threading.Event()

    def run(key, items):
        started.set()
        gate.wait(5)
        if "bad" in items:
            raise ValueError("bad item")
        return list(items)

    return Batcher(run, max_batch=max_batch, max_queue=8), started, gate


def settles(read, want, seconds: float = 5.0) -> bool:
    """Whether ``read()`` equals ``want`` within ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while read() != want:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_pending_counts_queued_and_running_items_but_not_cancelled_ones():
    b, started, gate = held_batcher(max_batch=2)
    assert b.pending == 0
    futures = [b.submit("k", i) for i in range(5)]
    assert started.wait(5)  # the worker holds a batch of 2; 3 wait
    assert b.pending == 5
    futures[-1].cancel()  # a request that timed out
    assert b.pending == 4
    gate.set()
    assert [f.result(5) for f in futures[:-1]] == [0, 1, 2, 3]
    assert settles(lambda: b.pending, 0)
    b.close()


def test_pending_returns_to_zero_after_a_failed_batch():
    b, started, gate = held_batcher(max_batch=4)
    futures = [b.submit("k", i) for i in ("a", "bad", "c")]
    assert started.wait(5) and b.pending == 3
    gate.set()
    assert futures[0].result(5) == "a" and futures[2].result(5) == "c"
    with pytest.raises(ValueError, match="bad item"):
        futures[1].result(5)
    assert settles(lambda: b.pending, 0)
    b.close()


def test_assist_goes_to_the_least_busy_worker_and_ties_to_the_class_own(served):
    app = create_app([served], assist_workers=2)
    server = app.state.server
    try:
        first, second = server.slow[served.name]
        assert server.assist_batcher(served, 4) is first and server.assist_batcher(served, 5) is second
        started, gate = threading.Event(), threading.Event()

        def held(work, items):
            started.set()
            gate.wait(5)
            return list(items)

        first.run = held  # keep the first worker busy
        job = first.submit("k", 0)
        assert started.wait(5) and first.pending == 1
        assert server.assist_batcher(served, 4) is second  # its own worker is busy
        gate.set()
        assert job.result(5) == 0
    finally:
        server.close()


def test_with_assist_in_a_thread_here_predict_and_explain_keep_their_priority(served):
    app = create_app([served], assist_workers=0)
    try:
        assert all(b.nice == 0 for b in app.state.server.fast.values())
    finally:
        app.state.server.close()
    app = create_app([served], assist_workers=1)
    try:
        assert all(b.nice == FAST_NICE for b in app.state.server.fast.values())
    finally:
        app.state.server.close()


def test_a_model_workers_share_the_strokes_they_lend(served, home, spg_dir):
    """Each worker's reply brings back the donors it read; the next batch to any worker carries them."""
    with TestClient(create_app([served], assist_workers=2)) as c:
        a, b = c.app.state.server.processes[served.name]
        assert a.lent is b.lent and not a.lent
        for w in (a, b):
            w.wait_ready()
        (sketch,) = read_sketches(spg_dir / "pig.ndjson.gz", limit=1)
        target = served.target_index("face")
        item = _item(served, to_strokes(sketch, decimals=6), 5, target)
        there = a.run(0, [item])
        assert set(a.lent) == {target} and a.lent[target]
        fresh = Donors(served.assist_view, home)(target)  # what a read in this process gives
        assert len(a.lent[target]) == len(fresh)
        for d, e in zip(a.lent[target], fresh, strict=True):
            assert d.credit == pytest.approx(e.credit, abs=1e-4) and np.array_equal(d.points, e.points)
        again = b.run(0, [item])  # b is sent a's donors and answers the same
        assert again[0]["suggestions"] == there[0]["suggestions"]
        assert any("add" in s["kind"] for s in there[0]["suggestions"])
        a.lent[target] = []  # what b is sent is what it lends: nothing now
        bare = b.run(0, [item])
        assert bare[0]["suggestions"] and not any("add" in s["kind"] for s in bare[0]["suggestions"])


def test_seeded_donors_are_not_read_again(served, home, monkeypatch):
    source = Donors(served.assist_view, home)
    target = served.target_index("airplane")
    known = source.cached([target]) or {target: source(target)}
    fresh = Donors(served.assist_view, home)

    def no_reading(t):
        raise AssertionError(f"class {t} read again")

    monkeypatch.setattr(fresh, "_build", no_reading)
    fresh.seed(known)
    assert fresh(target) is known[target]
    assert fresh.cached([target, target + 1]) == {target: known[target]}


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priority is Linux's")
def test_a_lowered_thread_priority_leaves_the_other_threads_alone():
    seen = {}

    def lowered():
        lower_thread_priority(FAST_NICE)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=lowered)
    t.start()
    t.join()
    assert seen["thread"] == min(19, before + FAST_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_assist_processes_run_at_the_server_priority(served):
    worker = AssistProcess(served.name, served.home, threads=1)
    try:
        worker.wait_ready()
        child = os.getpriority(os.PRIO_PROCESS, worker._process.pid)
        assert child == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        worker.close()
