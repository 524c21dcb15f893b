"""A worker thread that runs queued model work in batches, off the event loop, with a bounded queue.

``submit(key, item)`` queues one item and returns a `concurrent.futures.Future`. The worker takes the
oldest item and every queued item with the same ``key`` (up to ``max_batch``), runs them in one call of
``run(key, items)`` (one result per item) and resolves their futures. When that call raises, each item
runs again alone, so one bad item fails only its own request. A full queue refuses new work with
`Busy` (the server answers 503) instead of letting latency grow without bound. ``nice`` lowers the
worker thread's CPU priority (Linux, where priority is per thread; elsewhere it is ignored).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("strokelens.serve")


class Busy(Exception):
    """The queue is full."""


def lower_thread_priority(amount: int) -> None:
    """Lower the calling thread's CPU priority by ``amount`` nice steps. Only on Linux, where
    ``setpriority`` on a thread id is the thread's own; an unprivileged process can only lower it."""
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + amount))


class Batcher:
    """One worker thread over a FIFO queue of at most ``max_queue`` items."""

    def __init__(
        self,
        run: Callable[[Hashable, Sequence[Any]], Sequence[Any]],
        max_batch: int = 16,
        max_queue: int = 256,
        name: str = "batcher",
        nice: int = 0,
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self.run = run
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.nice = nice
        self._queue: collections.deque[tuple[Hashable, Any, Future]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        #: Batches run and items in them, for tests and the benchmark.
        self.batches = 0
        self.items = 0
        self._running = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, item: Any) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if len(self._queue) >= self.max_queue:
                raise Busy(f"{len(self._queue)} requests are queued; try again shortly")
            self._queue.append((key, item, future))
            self._cond.notify()
        return future

    @property
    def pending(self) -> int:
        """Items queued (not cancelled: a request that timed out) or in the batch now running."""
        with self._cond:
            return sum(not f.cancelled() for _, _, f in self._queue) + self._running

    def close(self) -> None:
        """Stop the worker after the queued work is done."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self) -> tuple[Hashable, list[tuple[Any, Future]]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            key, item, future = self._queue.popleft()
            batch = [(item, future)]
            rest: collections.deque = collections.deque()
            while self._queue and len(batch) < self.max_batch:
                entry = self._queue.popleft()
                if entry[0] == key:
                    batch.append((entry[1], entry[2]))
                else:
                    rest.append(entry)
            rest.extend(self._queue)
            self._queue = rest
            self._running = len(batch)
            return key, batch

    def _loop(self) -> None:
        if self.nice:
            lower_thread_priority(self.nice)
        while (taken := self._take()) is not None:
            key, batch = taken
            try:
                live = [(item, f) for item, f in batch if f.set_running_or_notify_cancel()]
                if live:
                    self.batches += 1
                    self.items += len(live)
                    self._run_batch(key, live)
            finally:
                with self._cond:
                    self._running = 0

    def _run_batch(self, key: Hashable, live: list[tuple[Any, Future]]) -> None:
        """Run one batch and resolve its futures; a failed batch runs again item by item, so one bad
        item fails only its own request."""
        try:
            results = self.run(key, [item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"{len(results)} results for {len(live)} items")
        except Exception as e:
            if len(live) == 1:
                live[0][1].set_exception(e)
                return
            for item, f in live:
                try:
                    f.set_result(self.run(key, [item])[0])
                except Exception as e:
                    f.set_exception(e)
            return
        for (_, f), result in zip(live, results, strict=True):
            f.set_result(result)
