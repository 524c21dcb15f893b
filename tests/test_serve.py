"""`strokelens serve`'s JSON API on real SPG drawings and DoodleNet: the model's own preprocessing,
batching that changes nothing, assist's verified edits, file loading and export, the page's files and
the docs' example (refusals: tests/test_serve_refusals.py; worker routing: tests/test_serve_workers.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from doc_examples import python_blocks
from serve_live import live_server
from strokelens.cli.serve import is_loopback
from strokelens.datasets import SAMPLE_PER_CLASS, load_sample
from strokelens.home import ENV_VAR
from strokelens.io import read_sketches
from strokelens.methods import get_method
from strokelens.serve import handlers, schemas
from strokelens.serve.app import create_app
from strokelens.serve.drawing import to_strokes
from strokelens.serve.handlers import Item, Served

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app([served])) as c:
        for worker in c.app.state.server.processes[served.name]:
            worker.wait_ready()  # loading a model on a busy machine can take longer than a request may wait
        yield c


@pytest.fixture(scope="module")
def drawings(spg_dir):
    return [s for c in ("pig", "crab", "apple") for s in read_sketches(spg_dir / f"{c}.ndjson.gz", limit=3)]


def strokes_of(sketch):
    return to_strokes(sketch, decimals=6)


def test_explain_is_the_model_own_path(client, served, drawings):
    """Probabilities and fastshap scores equal those of the library's explain path on the sketch."""
    sketch = drawings[0]
    reply = client.post("/api/explain", json={"strokes": strokes_of(sketch)})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    view = served.view
    prepared = view.prepare([sketch])
    e = get_method("fastshap")(view).attribute(prepared, target="auto", units="stroke")
    images = view.images(view.units_for(prepared, "stroke"))
    with torch.no_grad():
        probs = torch.softmax(view.model(images).double(), dim=1)[0]
    assert body["method"] == served.default_method == "fastshap"
    assert body["target"] == e.target_names[0] == body["top"][0]["class"]
    assert np.allclose(body["scores"], e.unit_scores(0), atol=1e-5)
    assert body["unit_stroke"] == list(range(sketch.n_strokes))
    top = torch.topk(probs, 5)
    assert [t["class"] for t in body["top"]] == [served.class_names[i] for i in top.indices]
    assert np.allclose([t["probability"] for t in body["top"]], top.values, atol=1e-5)
    assert body["target_probability"] == body["top"][0]["probability"]


def test_labels_read_right_on_most_real_drawings(client, drawings):
    hits = 0
    for sketch in drawings:
        body = client.post("/api/predict", json={"strokes": strokes_of(sketch), "top": 5}).json()
        hits += sketch.label in [t["class"] for t in body["top"]]
        assert body["strokes"] == sketch.n_strokes and body["points"] == sketch.n_points
    assert hits >= len(drawings) - 2


def test_a_chosen_class_and_pieces(client, served, drawings):
    sketch = drawings[3]
    body = client.post(
        "/api/explain", json={"strokes": strokes_of(sketch), "target": "pig", "method": "psla"}
    ).json()
    assert body["target"] == "pig" and body["units"] == "piece"
    assert len(body["scores"]) == len(body["unit_points"]) == len(body["unit_stroke"])
    # every piece lies on its stroke, in the request's coordinates (within QuickDraw's RDP tolerance
    # of 2 units in the 0..255 frame)
    x0, y0, x1, y1 = sketch.bbox()
    tolerance = 2 * max(x1 - x0, y1 - y0) / 255 + 0.5
    dense = sketch.resampled(0.5)
    for pts, k in zip(body["unit_points"], body["unit_stroke"], strict=True):
        assert len(pts) >= 2
        gaps = np.linalg.norm(np.array(pts)[:, None] - dense.strokes[k][None], axis=2).min(axis=1)
        assert gaps.max() < tolerance


def test_batches_give_what_single_requests_give(served, drawings):
    items = [Item(s, served.view.prepare([s])[0]) for s in drawings]
    together = handlers.explain(served, "fastshap", None, items)
    for item, batched in zip(items, together, strict=True):
        alone = handlers.explain(served, "fastshap", None, [item])[0]
        assert np.allclose(batched["scores"], alone["scores"], atol=1e-4)
        assert batched["top"][0]["class"] == alone["top"][0]["class"]


@pytest.fixture(scope="module")
def misread(served):
    """The shipped sample's first drawing DoodleNet reads as another class than its own."""
    from strokelens.assist import read

    sample = load_sample()
    probs = read(served.view, sample)
    names = served.class_names
    wrong = [s for s, p in zip(sample, probs, strict=True) if names[int(p.argmax())] != s.label]
    assert wrong, "DoodleNet reads every sample drawing right"
    return wrong[0]


def test_assist_suggests_verified_edits_smallest_first(client, misread):
    sketch = misread
    reply = client.post("/api/assist", json={"strokes": strokes_of(sketch), "target": sketch.label})
    assert reply.status_code == 200, reply.text
    a = reply.json()
    assert a["target"] == sketch.label and a["top"][0]["class"] != sketch.label and a["iterations"] == 0
    assert len(a["scores"]) == sketch.n_strokes and a["candidates"] > len(a["suggestions"]) >= 1
    assert sorted(a["against"]) == [k for k, v in enumerate(a["scores"]) if v < 0]
    suggestions = a["suggestions"]
    works = [s["success"] for s in suggestions]
    assert works == sorted(works, reverse=True) and a["success"] == works[0]
    inks = [s["ink_kept"] for s in suggestions if s["success"]]
    assert inks == sorted(inks, reverse=True)  # the most ink kept first
    for s in suggestions:
        assert 0 <= s["ink_kept"] <= 1 and 1 <= s["changes"] <= 3
        assert s["success"] == (s["top"][0]["class"] == sketch.label)
        n = sketch.n_strokes - len(s["removed"]) + len(s["added"])
        assert len(s["strokes"]) == n
        # each suggestion's drawing, read afresh by the predict path, gives what the suggestion says
        again = client.post("/api/predict", json={"strokes": s["strokes"], "top": 1}).json()
        assert again["top"][0]["class"] == s["top"][0]["class"]
        assert again["top"][0]["probability"] == pytest.approx(s["top"][0]["probability"], abs=1e-3)
    first = suggestions[0]
    assert first["success"] and first["probability"] > a["target_probability"]
    kept = [k for k in range(sketch.n_strokes) if k not in first["removed"]]
    moved = {m["stroke"] for m in first["moved"]}
    for k, stroke in zip(kept, first["strokes"], strict=False):  # kept strokes unchanged, unless moved
        if k not in moved:
            assert np.allclose(np.array(stroke).T, sketch.strokes[k], atol=0.01)


def test_assist_in_a_worker_process_answers_as_in_this_process(client, served, misread):
    """The default server runs assist in worker processes; a thread here gives the same reply."""
    assert client.app.state.server.processes[served.name]  # worker processes by default
    body = {"strokes": strokes_of(misread), "target": misread.label}
    there = client.post("/api/assist", json=body).json()
    with TestClient(create_app([served], assist_workers=0)) as here_client:
        assert not here_client.app.state.server.processes[served.name]
        here = here_client.post("/api/assist", json=body).json()
    assert there["scores"] == pytest.approx(here["scores"], abs=1e-5)
    assert [s["kind"] for s in there["suggestions"]] == [s["kind"] for s in here["suggestions"]]
    for a, b in zip(there["suggestions"], here["suggestions"], strict=True):
        assert a["strokes"] == b["strokes"] and a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_a_dead_assist_worker_fails_its_request_and_is_started_again(served, misread, drawings):
    body = {"strokes": strokes_of(misread), "target": misread.label}
    with TestClient(create_app([served], assist_workers=1)) as c:
        (worker,) = c.app.state.server.processes[served.name]
        worker.wait_ready()  # loading a model can take longer than a request may wait
        assert c.post("/api/assist", json=body).status_code == 200
        worker._process.kill()
        worker._process.join(10)
        reply = c.post("/api/assist", json=body)
        assert reply.status_code == 500 and "Traceback" not in reply.text
        assert c.post("/api/predict", json={"strokes": strokes_of(drawings[1])}).status_code == 200
        worker.wait_ready()
        again = c.post("/api/assist", json=body)
        assert again.status_code == 200 and again.json()["suggestions"]


def test_assist_lists_the_ghost_only_where_it_works(client, drawings):
    sketch = drawings[0]  # a pig, assisted toward a face
    reply = client.post(
        "/api/assist", json={"strokes": strokes_of(sketch), "target": "face", "iterations": 20}
    )
    assert reply.status_code == 200, reply.text
    a = reply.json()
    assert a["target"] == "face" and a["iterations"] == 20
    for s in a["suggestions"]:
        assert s["kind"] != "ghost" or s["success"]
        for m in s["moved"]:
            assert 0 <= m["stroke"] < sketch.n_strokes


def test_serves_with_no_data_folder_and_offers_the_shipped_sample(monkeypatch):
    """The packaged DoodleNet and the packaged sample: the page's Samples button and a prediction."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    with TestClient(create_app([Served.load("doodlenet")])) as c:
        assert "Samples" in c.get("/").text
        body = c.get("/api/sample").json()
        assert body["total_read"] == len(body["drawings"]) == 20 * SAMPLE_PER_CLASS
        pigs = c.get("/api/sample", params={"label": "pig"}).json()["drawings"]
        assert [d["label"] for d in pigs] == ["pig"] * SAMPLE_PER_CLASS
        reply = c.post("/api/predict", json={"strokes": pigs[0]["strokes"]})
        assert reply.status_code == 200, reply.text
        missing = c.get("/api/sample", params={"label": "zebra"})
        assert missing.status_code == 404 and "zebra" in missing.json()["error"]


def test_load_any_readable_file_and_refuse_the_rest(client, home, spg_dir, tmp_path):
    svg = sorted((home / "data" / "tu-berlin-svg").glob("*/*.svg"))[0]
    reply = client.post(f"/api/load?name={svg.name}", content=svg.read_bytes())
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["drawings"]) == 1
    spg = spg_dir / "crab.ndjson.gz"
    body = client.post("/api/load?name=crab.ndjson.gz", content=spg.read_bytes()).json()
    first = next(iter(read_sketches(spg)))
    assert body["total_read"] == schemas.MAX_LOAD_DRAWINGS + 1 and body["truncated"]
    assert len(body["drawings"][0]["strokes"]) == first.n_strokes and body["drawings"][0]["label"] == "crab"
    bad = client.post("/api/load?name=x.ndjson", content=b"not json\n")
    assert bad.status_code == 422 and "x.ndjson" in bad.json()["error"] and "/tmp" not in bad.text
    assert client.post("/api/load?name=x.txt", content=b"hello").status_code == 422
    assert client.post("/api/load?name=../x.svg", content=b"<svg/>").status_code == 422
    big = client.post("/api/load?name=x.svg", content=b" " * (schemas.MAX_UPLOAD_BYTES + 1))
    assert big.status_code == 413


def test_export_reads_back(client, drawings, tmp_path):
    sketch = drawings[2]
    for fmt, name in (("ndjson", "d.ndjson"), ("svg", "d.svg")):
        reply = client.post(
            "/api/export", json={"strokes": strokes_of(sketch), "format": fmt, "label": "pig"}
        )
        assert reply.status_code == 200
        (tmp_path / name).write_text(reply.text)
        back = list(read_sketches(tmp_path / name))
        assert len(back) == 1 and back[0].n_strokes == sketch.n_strokes
        assert np.allclose(back[0].strokes[0], sketch.strokes[0], atol=0.01)


def test_the_docs_example_runs_against_a_live_server(served, capsys):
    (block,) = python_blocks("docs/serve.md")
    with live_server([served]) as url:
        exec(compile(block.replace("http://127.0.0.1:8000", url), "docs/serve.md", "exec"), {})
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(scores) == 2


def test_only_loopback_is_quiet():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_info_lists_models_methods_and_limits(client):
    info = client.get("/api/info").json()
    doodle = info["models"]["doodlenet"]
    assert info["default_model"] == "doodlenet" and doodle["default_method"] == "fastshap"
    assert "shapley" in doodle["methods"] and doodle["max_shapley_units"] == 16
    assert len(doodle["classes"]) == 345
    assert info["limits"]["max_strokes"] == schemas.MAX_STROKES
    json.dumps(info)


def test_the_page_ships_in_the_package_and_calls_no_other_host():
    from importlib.resources import files

    static = files("strokelens.serve") / "static"
    names = {p.name for p in static.iterdir()}
    assert {"index.html", "app.js", "style.css"} <= names
    for name in names:
        text = (static / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_serve_command_refuses_a_model_twice(capsys):
    from strokelens.cli import main

    assert main(["serve", "--model", "doodlenet", "--model", "doodlenet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model given twice" in err[0]
    assert main(["serve", "--model", "darknet-tiny"]) == 2  # photo models have no canvas


def test_a_model_without_learned_weights_offers_no_learned_method(home, monkeypatch):
    """Where no fastshap/wys weights ship for the model, the page neither lists them nor defaults to
    them: it falls back to the measured no-weights default (occlusion)."""
    assert Served.load("stroke-transformer", home=home).default_method == "fastshap"

    monkeypatch.setattr(handlers, "weights_ship", lambda _model, _method: False)
    bare = Served.load("stroke-transformer", home=home)
    assert not {"fastshap", "wys"} & set(bare.methods)
    assert bare.default_method == "occlusion" and "occlusion" in bare.methods
