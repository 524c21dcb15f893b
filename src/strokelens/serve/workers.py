"""Assist in worker processes: each holds its own copy of a model and of the strokes it lends.

The edit search is CPU work in NumPy and PyTorch, much of it under the GIL; run in the server's own
process it stalls predict and explain. An `AssistProcess` runs it in a child process (started with
``spawn``) at the server's own OS priority (the predict/explain worker thread yields to it instead:
`strokelens.serve.app.FAST_NICE`). The parent sends a batch of items through a pipe and waits (no
GIL held while it waits); the child answers with the replies, a refusal (`StrokelensError`: the
request's 422) or a failure. A child that dies is started afresh and the batch it held fails (500);
the next batch runs normally.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.serve.handlers import Item

#: Seconds a new worker may take to load its model before its first batch fails.
STARTUP_TIMEOUT_S = 120.0


def default_workers() -> int:
    """Assist processes per model: one per core, at most 2 (the server itself needs a core)."""
    return max(1, min(2, os.cpu_count() or 1))


def _main(conn: Any, name: str, home: str | None, threads: int) -> None:
    """The child: load the model, then answer batches until the pipe closes or None arrives."""
    import torch

    from strokelens.serve import handlers

    torch.set_num_threads(threads)
    try:
        served = handlers.Served.load(name, home=home)
    except Exception:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        iterations, items, known = message
        try:
            if served.donors is not None:
                served.donors.seed(known)
            replies = handlers.assist(served, iterations, items)
            built = served.donors.cached(_targets(items) - known.keys()) if served.donors else {}
            reply: tuple[str, Any] = ("ok", (replies, built))
        except StrokelensError as e:
            reply = ("refused", str(e))
        except Exception:
            reply = ("failed", traceback.format_exc())
        conn.send(reply)


def _targets(items: Sequence[Item]) -> set[int]:
    return {int(it.target) for it in items}


class AssistProcess:
    """One child process running `strokelens.serve.handlers.assist` for model ``name``; `run` is
    called by one batcher thread at a time (a lock keeps it so).

    ``lent``: the strokes lent toward each class (`strokelens.assist.Donors`), shared by all of a
    model's processes: a batch carries those its targets have, and each child's reply brings back
    those it read, so a class's drawings are read once whichever process serves it first (twice at
    most where two batches toward a new class run at once)."""

    def __init__(
        self,
        name: str,
        home: str | os.PathLike[str] | None,
        threads: int = 1,
        lent: dict[int, list] | None = None,
    ):
        self.name = name
        self.lent = {} if lent is None else lent
        self.home = None if home is None else str(Path(home))
        self.threads = threads
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_main,
            args=(child, self.name, self.home, self.threads),
            name=f"assist-{self.name}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._ready = False

    def _restart(self) -> None:
        self._stop()
        self._start()

    def wait_ready(self) -> None:
        """Wait until the child has loaded its model (at most `STARTUP_TIMEOUT_S`)."""
        with self._lock:
            if not self._ready:
                self._wait_ready()

    def _wait_ready(self) -> None:
        if not self._conn.poll(STARTUP_TIMEOUT_S):
            raise RuntimeError(f"the assist worker for {self.name} did not start in {STARTUP_TIMEOUT_S:g} s")
        kind, value = self._conn.recv()
        if kind != "ready":
            raise RuntimeError(f"the assist worker for {self.name} failed to start:\n{value}")
        self._ready = True

    def run(self, iterations: int, items: Sequence[Item]) -> list[dict]:
        """The replies for ``items`` (`strokelens.serve.handlers.assist`), computed in the child."""
        with self._lock:
            try:
                if not self._ready:
                    self._wait_ready()
                known = {t: self.lent[t] for t in _targets(items) if t in self.lent}
                self._conn.send((iterations, list(items), known))
                kind, value = self._conn.recv()
            except (EOFError, OSError) as e:
                self._restart()
                raise RuntimeError(f"the assist worker for {self.name} stopped ({e!r}); restarted") from None
            except RuntimeError:
                self._restart()
                raise
        if kind == "ok":
            replies, built = value
            self.lent.update(built)
            return replies
        if kind == "refused":
            raise StrokelensError(value)
        raise RuntimeError(f"assist worker for {self.name} failed:\n{value}")

    def _stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()

    def close(self) -> None:
        """Stop the child (it finishes the batch it holds first)."""
        with self._lock:
            self._stop()
