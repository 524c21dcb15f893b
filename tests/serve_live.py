"""A live `strokelens serve` application on a free loopback port, in a thread, for tests that need
a real server (the browser, concurrent clients)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence

import uvicorn

from strokelens.serve.app import create_app
from strokelens.serve.handlers import Served


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(served: Sequence[Served], timeout: float = 30.0) -> Iterator[str]:
    """Serve ``served`` on 127.0.0.1 and yield the base URL; stop the server afterwards."""
    port = free_port()
    config = uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
