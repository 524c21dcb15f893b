"""The assisted-drawing page in headless Chromium (Debian's ``chromium``, driven by Playwright): real
SPG strokes drawn with pointer events, predictions and coloured strokes after every stroke, undo, a
blank and a one-dot canvas, loading a file, the shipped samples, and assist. Fails in CI without the
browser; skips elsewhere."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from serve_live import live_server
from strokelens.datasets import SAMPLE_PER_CLASS, load_sample
from strokelens.io import read_sketches, write_sketches
from strokelens.serve.handlers import Served

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

#: What this closed network needs for Chromium to start and stay off the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Reply waits: generous, since the test machine is shared.
WAIT_MS = 60_000


def _missing(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"{why}: CI must run the browser tests (`make setup` installs them)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("no chromium on PATH")
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def url(home):
    with live_server([Served.load("doodlenet", home=home)]) as base:
        yield base


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def pig(spg_dir):
    return next(iter(read_sketches(spg_dir / "pig.ndjson.gz")))


def draw(page, sketch) -> None:
    """Draw ``sketch`` on the canvas stroke by stroke with the mouse (pointer events), fitted inside."""
    box = page.locator("#canvas").bounding_box()
    x0, y0, x1, y1 = sketch.bbox()
    scale = 0.8 * box["width"] / max(x1 - x0, y1 - y0)
    for stroke in sketch.strokes:
        pts = [
            (
                box["x"] + 0.1 * box["width"] + (x - x0) * scale,
                box["y"] + 0.1 * box["height"] + (y - y0) * scale,
            )
            for x, y in stroke
        ]
        page.mouse.move(*pts[0])
        page.mouse.down()
        for p in pts[1:]:
            page.mouse.move(*p)
        page.mouse.up()


def settled(page) -> dict:
    """Wait until every explain request has its reply; the page's state."""
    page.wait_for_function(
        "() => { const s = window.strokelensPage; return s.requests > 0 && s.replies === s.requests; }",
        timeout=WAIT_MS,
    )
    return page.evaluate("window.strokelensPage")


def test_draw_explain_undo(page, pig):
    draw(page, pig)
    state = settled(page)
    assert len(state["strokes"]) == pig.n_strokes
    assert state["requests"] == pig.n_strokes  # one explanation after every stroke, no button
    e = state["explanation"]
    assert e["strokes"] == pig.n_strokes and e["method"] == "fastshap"
    items = page.locator("#predictions li")
    assert items.count() == 5
    assert "pig" in [items.nth(i).get_attribute("data-class") for i in range(5)]
    assert len(state["colors"]) == pig.n_strokes
    assert len(set(state["colors"])) > 1  # strokes coloured by their scores, not all alike
    page.click("#undo")
    state = settled(page)
    assert len(state["strokes"]) == pig.n_strokes - 1
    assert state["explanation"]["strokes"] == pig.n_strokes - 1
    # choosing a class in the list explains for it
    items.nth(1).click()
    state = settled(page)
    assert state["explanation"]["target"] == page.locator("#target").input_value()


def test_blank_and_one_dot_get_a_message_not_a_guess(page):
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.up()
    settled(page)
    assert "single dot" in page.locator("#message").inner_text()
    assert page.locator("#predictions li").count() == 0
    page.click("#clear")
    assert "Draw something" in page.locator("#message").inner_text()


def test_load_a_file_and_pick_a_drawing(page, spg_dir, tmp_path):
    crabs = list(read_sketches(spg_dir / "crab.ndjson.gz", limit=3))
    path = tmp_path / "crabs.ndjson"
    write_sketches([s.__class__(strokes=s.strokes, label=s.label) for s in crabs], path)
    page.set_input_files("#file", str(path))
    state = settled(page)
    assert len(state["loaded"]) == 3 and len(state["strokes"]) == crabs[0].n_strokes
    page.select_option("#pick", "2")
    page.wait_for_function(f"window.strokelensPage.strokes.length === {crabs[2].n_strokes}", timeout=WAIT_MS)
    state = settled(page)
    assert state["explanation"]["strokes"] == crabs[2].n_strokes
    bad = tmp_path / "bad.svg"
    bad.write_text("<svg>")
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('message').classList.contains('error')", timeout=WAIT_MS)


def test_samples_button_offers_the_shipped_drawings(page):
    first = load_sample()[0]
    page.click("#samples")
    state = settled(page)
    assert len(state["loaded"]) == 20 * SAMPLE_PER_CLASS and state["loaded"][0]["label"] == first.label
    assert state["explanation"]["strokes"] == first.n_strokes
    assert page.is_visible("#pick")


def as_drawn(page, sketch) -> list:
    """``sketch``'s strokes as `draw` puts them on the canvas, in canvas pixels (the request's frame)."""
    box = page.locator("#canvas").bounding_box()
    x0, y0, x1, y1 = sketch.bbox()
    k = 0.8 * box["width"] / max(x1 - x0, y1 - y0)
    ratio = page.evaluate("document.getElementById('canvas').width") / box["width"]
    return [
        [
            [round(ratio * (0.1 * box["width"] + (x - x0) * k), 2) for x in s[:, 0]],
            [round(ratio * (0.1 * box["height"] + (y - y0) * k), 2) for y in s[:, 1]],
        ]
        for s in sketch.strokes
    ]


def test_assist_applies_a_suggestion_that_makes_the_model_read_the_class_meant(page, url, tmp_path):
    import httpx

    # a real drawing (the shipped sample) that DoodleNet misreads as the page draws it
    misread = None
    for sketch in load_sample():
        top = httpx.post(url + "/api/predict", json={"strokes": as_drawn(page, sketch), "top": 1}, timeout=60)
        if top.json()["top"][0]["class"] != sketch.label:
            misread = sketch
            break
    assert misread is not None, "DoodleNet reads every sample drawing right"
    draw(page, misread)
    state = settled(page)
    assert state["explanation"]["top"][0]["class"] != misread.label
    drawn = state["strokes"]
    page.fill("#assist-target", misread.label)
    page.click("#assist")
    page.wait_for_function("window.strokelensPage.assist !== null", timeout=WAIT_MS)
    a = page.evaluate("window.strokelensPage.assist")
    assert a["target"] == misread.label and a["suggestions"] and a["suggestions"][0]["success"]
    items = page.locator("#suggestions li")
    assert items.count() == len(a["suggestions"])
    assert misread.label in items.nth(0).inner_text() and "Apply" in items.nth(0).inner_text()
    shot = Path(os.environ.get("STROKELENS_SCREENSHOT", tmp_path / "serve.png"))
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    requests = state["requests"]
    items.nth(0).locator(".apply").click()
    page.wait_for_function(f"window.strokelensPage.requests > {requests}", timeout=WAIT_MS)
    state = settled(page)
    assert state["strokes"] == a["suggestions"][0]["strokes"]
    assert state["explanation"]["top"][0]["class"] == misread.label  # the class meant, on top
    assert page.locator("#predictions li").first.get_attribute("data-class") == misread.label
    page.click("#undo")  # takes the whole suggestion back
    state = settled(page)
    assert state["strokes"] == drawn
    assert state["explanation"]["top"][0]["class"] != misread.label
