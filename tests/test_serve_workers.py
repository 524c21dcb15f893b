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
from strokelens.serve.handlers import Served
from strokelens.serve.workers import AssistProcess

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def served(home) -> Served:
    return Served.load("doodlenet", home=home)


def test_pending_counts_queued_and_running_items():
    gate = threading.Event()
    b = Batcher(lambda key, items: [gate.wait(5) for _ in items], max_batch=2, max_queue=8)
    assert b.pending == 0
    futures = [b.submit("k", i) for i in range(5)]
    time.sleep(0.1)  # the worker holds a batch of 2; 3 wait
    assert b.pending == 5
    gate.set()
    assert all(f.result(5) for f in futures)
    time.sleep(0.05)
    assert b.pending == 0
    b.close()


def test_assist_goes_to_the_least_busy_worker_and_ties_to_the_class_own(served):
    app = create_app([served], assist_workers=2)
    server = app.state.server
    try:
        first, second = server.slow[served.name]
        assert server.assist_batcher(served, 4) is first and server.assist_batcher(served, 5) is second
        gate = threading.Event()
        first.run = lambda work, items: [gate.wait(5) for _ in items]  # keep the first worker busy
        held = first.submit("k", 0)
        time.sleep(0.1)
        assert first.pending == 1
        assert server.assist_batcher(served, 4) is second  # its own worker is busy
        gate.set()
        assert held.result(5)
    finally:
        server.close()


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
