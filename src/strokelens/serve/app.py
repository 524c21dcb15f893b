"""The FastAPI application: the JSON API, its error replies, the body-size limit and the page.

Every error reply is ``{"error": message, "status": code}``; no traceback reaches a client (an
unexpected failure is logged here and answered 500 with a fixed message). Model work runs on
`Batcher` workers, never on the event loop: one per model for explain/predict, and per model one
for each assist worker process (`strokelens.serve.workers`; a drawing goes to the one with the
least work pending, and the strokes a class lends are shared through this process), or one assist
thread with ``assist_workers=0``. Parsing and the model's preprocessing run in the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from strokelens.errors import StrokelensError
from strokelens.serve import handlers, schemas
from strokelens.serve.batcher import Batcher, Busy
from strokelens.serve.drawing import ApiError, to_sketch, to_strokes
from strokelens.serve.handlers import Item, Served
from strokelens.serve.workers import AssistProcess, default_workers

log = logging.getLogger("strokelens.serve")

STATIC = Path(str(files("strokelens.serve") / "static"))
#: A request waits at most this long for its model work (then 503).
REQUEST_TIMEOUT_S = 60.0
#: How much lower the predict/explain worker thread's CPU priority is than the assist processes'
#: (Linux; not with ``assist_workers=0``, where assist is a thread of this process). Assists are few and
#: long, so they take the CPU first: under 8 clients on 2 cores (`benchmarks/serve_latency.py`, three
#: full runs each) assist p95 went from 333-343 ms to 272-318 ms while predict+explain p95 stayed at
#: 60-70 ms (its latency is queueing behind other clients' requests, not CPU share).
FAST_NICE = 6


@dataclass(frozen=True)
class Predict:
    """Work for a model's fast worker: the top classes of each drawing."""


@dataclass(frozen=True)
class Explain:
    """Work for a model's fast worker: ``method``'s explanation in ``units`` (None: its own)."""

    method: str
    units: str | None = None


@dataclass(frozen=True)
class Assist:
    """Work for a model's slow worker: the edit search, with ``iterations`` ghost steps (0: none)."""

    iterations: int


#: The work a batch is made of (items with equal work batch together).
Work = Predict | Explain | Assist


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class BodyLimit:
    """ASGI middleware: a request body over its limit gets 413 before any route sees it.

    The declared ``Content-Length`` is checked first; a body sent without one (chunked) is read up
    to the limit and then replayed to the application. ``/api/load`` (a file) has its own limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"] == "/api/load" else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, f"request body over the limit of {limit} bytes")
        await response(scope, receive, send)


def _validation_message(exc: RequestValidationError) -> str:
    """The first validation error as one line: where, and what."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "invalid JSON")
        return f"malformed JSON body: {reason} (at character {first.get('loc', ('', '?'))[-1]})"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'body'}: {first.get('msg', 'invalid')}{more}"


class Server:
    """The served models, their workers, and the request handling the routes share.

    ``assist_workers``: assist processes per model (None: `default_workers`; 0: a thread here)."""

    def __init__(
        self,
        served: Sequence[Served],
        max_batch: int = 16,
        max_queue: int = 256,
        assist_workers: int | None = None,
    ) -> None:
        if not served:
            raise StrokelensError("serve at least one model")
        self.models = {s.name: s for s in served}
        self.default = served[0].name
        workers = default_workers() if assist_workers is None else assist_workers
        nice = FAST_NICE if workers > 0 else 0  # an assist thread here must not get ahead of it
        self.fast = {
            s.name: Batcher(self._run_fast(s), max_batch, max_queue, f"explain-{s.name}", nice=nice)
            for s in served
        }
        lent: dict[str, dict[int, list]] = {s.name: {} for s in served}  # shared by a model's workers
        self.processes = {
            s.name: [
                AssistProcess(s.name, s.home, torch.get_num_threads(), lent=lent[s.name])
                for _ in range(workers)
            ]
            for s in served
        }
        queue = max(1, max_queue // 4 // max(1, workers))
        self.slow = {
            s.name: [
                Batcher(self._run_slow(s, p), max(1, max_batch // 2), queue, f"assist-{s.name}")
                for p in self.processes[s.name] or [None]
            ]
            for s in served
        }

    @staticmethod
    def _run_fast(served: Served) -> Callable[[Work, Sequence[Item]], list[dict]]:
        def run(work: Work, items: Sequence[Item]) -> list[dict]:
            if isinstance(work, Explain):
                return handlers.explain(served, work.method, work.units, items)
            return handlers.predict(served, items)

        return run

    @staticmethod
    def _run_slow(
        served: Served, process: AssistProcess | None
    ) -> Callable[[Work, Sequence[Item]], list[dict]]:
        def run(work: Assist, items: Sequence[Item]) -> list[dict]:
            if process is None:
                return handlers.assist(served, work.iterations, items)
            return process.run(work.iterations, items)

        return run  # type: ignore[return-value]  # the slow worker is given Assist work only

    def assist_batcher(self, served: Served, target: int) -> Batcher:
        """The assist worker with the least work pending (queued or running); among equals, the one
        class ``target`` maps to (so that simultaneous requests spread over the workers)."""
        batchers = self.slow[served.name]
        home = batchers[target % len(batchers)]
        return min(batchers, key=lambda b: (b.pending, b is not home))

    def close(self) -> None:
        for b in (*self.fast.values(), *(b for bs in self.slow.values() for b in bs)):
            b.close()
        for p in (p for ps in self.processes.values() for p in ps):
            p.close()

    def model(self, name: str | None) -> Served:
        name = name or self.default
        if name not in self.models:
            raise ApiError(404, f"model {name!r} is not served here; served: {', '.join(self.models)}")
        return self.models[name]

    async def submit(self, batcher: Batcher, work: Work, item: Item) -> dict:
        try:
            future = batcher.submit(work, item)
        except Busy as e:
            raise ApiError(503, f"server busy: {e}") from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), REQUEST_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            message = f"no reply within {REQUEST_TIMEOUT_S:g} s; the server is overloaded"
            raise ApiError(503, message) from None

    def info(self) -> dict:
        return {
            "default_model": self.default,
            "models": {
                s.name: {
                    "classes": s.class_names,
                    "methods": list(s.methods),
                    "default_method": s.default_method,
                    "max_shapley_units": s.max_shapley_units,
                    "input_kind": s.view.kind.name,
                }
                for s in self.models.values()
            },
            "limits": {
                "max_strokes": schemas.MAX_STROKES,
                "max_points": schemas.MAX_POINTS,
                "max_body_bytes": schemas.MAX_BODY_BYTES,
                "max_upload_bytes": schemas.MAX_UPLOAD_BYTES,
            },
            "assist_iterations": handlers.ASSIST_ITERATIONS,
        }


def _item(served: Served, strokes: schemas.Strokes, top: int, target: str | int = "auto") -> Item:
    """Check a drawing and prepare it as the model's view does (runs in the thread pool)."""
    sketch = to_sketch(strokes)
    return Item(sketch, served.view.prepare([sketch])[0], top, target)


def _load(name: str, data: bytes) -> dict:
    """The drawings of an uploaded sketch file (`strokelens.io.read_uploaded`); error messages name
    the file as uploaded."""
    from strokelens.io import read_uploaded

    try:
        sketches = read_uploaded(data, name, limit=schemas.MAX_LOAD_DRAWINGS + 1)
    except StrokelensError as e:
        raise ApiError(422, str(e)) from None
    drawings = [
        {"strokes": to_strokes(s), "label": s.label, "key_id": s.key_id}
        for s in sketches[: schemas.MAX_LOAD_DRAWINGS]
    ]
    if not drawings:
        raise ApiError(422, f"{Path(name).name}: no drawings in the file")
    return {
        "drawings": drawings,
        "total_read": len(sketches),
        "truncated": len(sketches) > schemas.MAX_LOAD_DRAWINGS,
    }


def _sample(label: str | None) -> dict:
    """The drawings of the sample that ships with strokelens (`strokelens.datasets.load_sample`): of
    class ``label``, or all."""
    from strokelens.datasets import load_sample

    try:
        sketches = load_sample([label] if label else None)
    except StrokelensError as e:
        raise ApiError(404, str(e)) from None
    drawings = [{"strokes": to_strokes(s), "label": s.label, "key_id": s.key_id} for s in sketches]
    return {"drawings": drawings, "total_read": len(drawings), "truncated": False}


def _export(req: schemas.ExportRequest) -> PlainTextResponse:
    import json

    from strokelens.io.svg import svg_text

    sketch = to_sketch(req.strokes, label=req.label)
    if req.format == "svg":
        return PlainTextResponse(svg_text(sketch), media_type="image/svg+xml")
    record: dict[str, Any] = {"key_id": "strokelens-serve", "drawing": to_strokes(sketch)}
    if req.label:
        record["word"] = req.label
    text = json.dumps(record, separators=(",", ":")) + "\n"
    return PlainTextResponse(text, media_type="application/x-ndjson")


def create_app(
    served: Sequence[Served], max_batch: int = 16, max_queue: int = 256, assist_workers: int | None = None
) -> FastAPI:
    """The application serving ``served`` (the first is the default model); ``assist_workers``: assist
    processes per model (None: one per core, at most 2; 0: assist runs in a thread of this process)."""
    server = Server(served, max_batch, max_queue, assist_workers)
    app = FastAPI(title="strokelens", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.server = server
    app.add_middleware(BodyLimit, max_bytes=schemas.MAX_BODY_BYTES, upload_bytes=schemas.MAX_UPLOAD_BYTES)
    app.router.on_shutdown.append(server.close)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(StrokelensError)
    async def strokelens_error(request: Request, exc: StrokelensError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's one 400: a body it could not parse (e.g. nested too deep)
            return error_response(422, f"malformed request body: {exc.detail}")
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return error_response(500, "internal server error (logged on the server)")

    async def guarded(work: Awaitable[Any]) -> Any:
        """Await work; anything but a refusal is logged and answered 500 without its details."""
        try:
            return await work
        except (ApiError, StrokelensError):
            raise
        except Exception as exc:
            log.error("unexpected error", exc_info=exc)
            raise ApiError(500, "internal server error (logged on the server)") from None

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    async def info() -> dict:
        return server.info()

    @app.post("/api/predict", response_model=schemas.Prediction, response_model_by_alias=True)
    async def predict(req: schemas.DrawingRequest) -> dict:
        served = server.model(req.model)

        async def work() -> dict:
            item = await run_in_threadpool(_item, served, req.strokes, req.top)
            return await server.submit(server.fast[served.name], Predict(), item)

        return await guarded(work())

    @app.post("/api/explain", response_model=schemas.Explanation, response_model_by_alias=True)
    async def explain(req: schemas.ExplainRequest) -> dict:
        served = server.model(req.model)
        method = req.method or served.default_method
        if method not in served.methods:
            offered = ", ".join(served.methods)
            raise ApiError(422, f"method {method!r} is not offered for {served.name}: {offered}")
        target = req.target if req.target == "auto" else served.target_index(req.target)

        async def work() -> dict:
            item = await run_in_threadpool(_item, served, req.strokes, req.top, target)
            return await server.submit(server.fast[served.name], Explain(method, req.units), item)

        return await guarded(work())

    @app.post("/api/assist", response_model=schemas.Assist, response_model_by_alias=True)
    async def assist(req: schemas.AssistRequest) -> dict:
        served = server.model(req.model)
        target = served.target_index(req.target)
        iterations = handlers.ASSIST_ITERATIONS if req.iterations is None else req.iterations

        async def work() -> dict:
            item = await run_in_threadpool(_item, served, req.strokes, req.top, target)
            return await server.submit(server.assist_batcher(served, target), Assist(iterations), item)

        return await guarded(work())

    @app.post("/api/export")
    async def export(req: schemas.ExportRequest) -> PlainTextResponse:
        return await guarded(run_in_threadpool(_export, req))

    @app.post("/api/load", response_model=schemas.Loaded)
    async def load(request: Request, name: str) -> dict:
        data = await request.body()
        return await guarded(run_in_threadpool(_load, name, data))

    @app.get("/api/sample", response_model=schemas.Loaded)
    async def sample(label: str | None = None) -> dict:
        return await guarded(run_in_threadpool(_sample, label))

    return app
