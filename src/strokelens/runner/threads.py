"""The two threads of a batch run: `prefetch` (prepare the next batches while the model works) and
`Writer` (hand results to a background thread through a bounded queue). Both pass exceptions back
to the caller's thread; neither lets more than ``depth`` items wait."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``source``, produced ``depth`` ahead in a background thread (an exception there is
    raised here, at the item it stopped on). Closing the iterator early stops the thread."""
    if depth < 1:
        yield from source
        return
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            q.put(_Failed(exc))

    thread = threading.Thread(target=produce, name="strokelens-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class Writer(Generic[T]):
    """Calls ``write(item)`` for every `put` item on a background thread, in order; at most ``depth``
    items wait (`put` blocks beyond). `close` waits for the rest; a failed write is raised by the next
    `put` or by `close`."""

    def __init__(self, write: Callable[[T], None], depth: int = 2, name: str = "strokelens-writer") -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, item: T) -> None:
        self._raise()
        self._queue.put(item)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        self._raise()
