"""`strokelens serve` refusing what it must: every malformed request gets its 4xx (413, 422, 404,
405) with a message and no traceback, an inside failure is a bare 500, one bad item in a batch fails
only its own request, a full queue is 503, and the server answers normally after each, also under
concurrent clients."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from serve_live import live_server
from strokelens.io import read_sketches
from strokelens.serve import handlers, schemas
from strokelens.serve.app import create_app
from strokelens.serve.batcher import Batcher, Busy
from strokelens.serve.drawing import to_strokes

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app([served], assist_workers=0)) as c:
        yield c


@pytest.fixture(scope="module")
def drawings(spg_dir):
    return [s for c in ("pig", "crab") for s in read_sketches(spg_dir / f"{c}.ndjson.gz", limit=3)]


def strokes_of(sketch):
    return to_strokes(sketch, decimals=6)


BAD = [
    # (what, request kwargs, status, part of the message)
    (
        "malformed JSON",
        {"content": b'{"strokes": [[[1, 2], [3, 4]]', "path": "/api/predict"},
        422,
        "malformed JSON",
    ),
    ("nested too deep", {"content": b"[" * 100_000, "path": "/api/predict"}, 422, "malformed"),
    ("strokes not a list", {"json": {"strokes": "x"}}, 422, "strokes"),
    ("a stroke of one array", {"json": {"strokes": [[[1, 2, 3]]]}}, 422, "stroke 0"),
    ("xs and ys of two lengths", {"json": {"strokes": [[[1, 2, 3], [1, 2]]]}}, 422, "one length"),
    ("an unknown field", {"json": {"strokes": [[[1, 2], [1, 2]]], "colour": 1}}, 422, "colour"),
    ("NaN", {"content": b'{"strokes": [[[NaN, 2], [1, 2]]]}', "path": "/api/predict"}, 422, "non-finite"),
    ("a huge coordinate", {"json": {"strokes": [[[1e300, 2], [1, 2]]]}}, 422, "out-of-range"),
    ("blank canvas", {"json": {"strokes": []}}, 422, "blank"),
    ("one dot", {"json": {"strokes": [[[5, 5], [7, 7]]]}}, 422, "single dot"),
    ("top out of range", {"json": {"strokes": [[[1, 2], [1, 2]]], "top": 0}}, 422, "top"),
    ("coordinates as strings", {"json": {"strokes": [[["1", "2"], ["1", "2"]]]}}, 422, "strokes"),
    ("coordinates as booleans", {"json": {"strokes": [[[True, False], [1, 2]]]}}, 422, "strokes"),
    ("top as a boolean", {"json": {"strokes": [[[1, 2], [1, 2]]], "top": True}}, 422, "top"),
    (
        "too many strokes",
        {"json": {"strokes": [[[1, 2], [1, 2]]] * (schemas.MAX_STROKES + 1)}},
        413,
        "strokes",
    ),
    (
        "too many points",
        {"json": {"strokes": [[list(range(schemas.MAX_POINTS + 1)), [0] * (schemas.MAX_POINTS + 1)]]}},
        413,
        "points",
    ),
    (
        "body over the limit",
        {"content": b" " * (schemas.MAX_BODY_BYTES + 1), "path": "/api/predict"},
        413,
        "limit",
    ),
    ("unknown model", {"json": {"strokes": [[[1, 2], [1, 2]]], "model": "nope"}}, 404, "not served"),
    ("unknown class", {"json": {"strokes": [[[1, 2], [1, 2]]], "target": "zebrafish"}}, 422, "unknown class"),
    ("class index out of range", {"json": {"strokes": [[[1, 2], [1, 2]]], "target": 345}}, 422, "outside"),
    ("unknown method", {"json": {"strokes": [[[1, 2], [1, 2]]], "method": "magic"}}, 422, "not offered"),
    (
        "exact Shapley on a big drawing",
        {"json": {"strokes": [[[k, k + 1], [0, 5]] for k in range(17)], "method": "shapley"}},
        422,
        "exceeds the limit of 16",
    ),
    (
        "a learned explainer on pieces",
        {"json": {"strokes": [[[1, 2], [1, 2]]], "units": "piece"}},
        422,
        "no shipped fastshap explainer",
    ),
    (
        "assist without a target",
        {"json": {"strokes": [[[1, 2], [1, 2]]]}, "path": "/api/assist"},
        422,
        "target",
    ),
    (
        "assist unknown class",
        {"json": {"strokes": [[[1, 2], [1, 2]]], "target": "x"}, "path": "/api/assist"},
        422,
        "unknown class",
    ),
    (
        "assist on a blank canvas",
        {"json": {"strokes": [], "target": "pig"}, "path": "/api/assist"},
        422,
        "blank",
    ),
    (
        "assist on too many strokes",
        {
            "json": {"strokes": [[[1, 2], [1, 2]]] * (schemas.MAX_STROKES + 1), "target": "pig"},
            "path": "/api/assist",
        },
        413,
        "strokes",
    ),
    (
        "assist with negative ghost steps",
        {"json": {"strokes": [[[1, 2], [1, 2]]], "target": "pig", "iterations": -1}, "path": "/api/assist"},
        422,
        "iterations",
    ),
    (
        "export in an unknown format",
        {"json": {"strokes": [[[1, 2], [1, 2]]], "format": "png"}, "path": "/api/export"},
        422,
        "format",
    ),
]


def post(client, kwargs):
    kwargs = dict(kwargs)
    path = kwargs.pop("path", "/api/explain")
    if "content" in kwargs:
        kwargs["headers"] = {"content-type": "application/json"}
    return client.post(path, **kwargs)


@pytest.mark.parametrize(("what", "kwargs", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_every_bad_request_gets_its_4xx_and_the_server_goes_on(
    client, drawings, what, kwargs, status, message
):
    reply = post(client, kwargs)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["status"] == status and message.lower() in body["error"].lower()
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    ok = client.post("/api/predict", json={"strokes": strokes_of(drawings[1])})
    assert ok.status_code == 200


def test_unknown_routes_and_verbs(client):
    assert client.get("/api/nothing").status_code == 404
    reply = client.get("/api/predict")
    assert reply.status_code == 405 and reply.json()["status"] == 405


def test_a_chunked_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(schemas.MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    reply = client.post("/api/predict", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413


def test_a_failure_inside_is_500_without_details(client, drawings, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /home/x/file.py")

    monkeypatch.setattr(handlers, "predict", broken)
    reply = client.post("/api/predict", json={"strokes": strokes_of(drawings[0])})
    assert reply.status_code == 500
    assert "secret" not in reply.text and "Traceback" not in reply.text
    monkeypatch.undo()
    assert client.post("/api/predict", json={"strokes": strokes_of(drawings[0])}).status_code == 200


def test_batcher_isolates_a_bad_item_and_refuses_when_full():
    def run(key, items):
        if "bad" in items:
            raise ValueError("bad item")
        time.sleep(0.05)
        return [f"{key}:{i}" for i in items]

    b = Batcher(run, max_batch=8, max_queue=4)
    futures = [b.submit("k", i) for i in ("a", "bad", "c")]
    assert futures[0].result(5) == "k:a" and futures[2].result(5) == "k:c"
    with pytest.raises(ValueError, match="bad item"):
        futures[1].result(5)
    gate = threading.Event()
    slow = Batcher(lambda key, items: [gate.wait(5) for _ in items], max_batch=1, max_queue=2)
    first = slow.submit("k", 0)
    time.sleep(0.1)  # the worker holds the first item
    queued = [slow.submit("k", i) for i in (1, 2)]
    with pytest.raises(Busy):
        slow.submit("k", 3)
    gate.set()
    assert first.result(5) and all(f.result(5) for f in queued)
    b.close()
    slow.close()


def test_a_live_server_survives_bad_requests_from_concurrent_clients(served, drawings):
    good = {"strokes": strokes_of(drawings[4])}
    with live_server([served]) as url, httpx.Client(base_url=url, timeout=30) as http:
        results: list[int] = []

        def client_loop(i: int) -> None:
            for j in range(4):
                if (i + j) % 2:
                    results.append(
                        http.post(
                            "/api/explain", content=b"{", headers={"content-type": "application/json"}
                        ).status_code
                    )
                else:
                    results.append(http.post("/api/explain", json=good).status_code)

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(set(results)) == [200, 422] and len(results) == 16
        assert http.get("/").status_code == 200 and "canvas" in http.get("/").text
        assert http.get("/static/app.js").status_code == 200
        assert http.post("/api/predict", json=good).json()["top"][0]["class"] == drawings[4].label
