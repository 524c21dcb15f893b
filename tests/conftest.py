"""Shared fixtures. Real data comes from $STROKELENS_HOME (the Makefile points it at ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from strokelens.home import ENV_VAR


@pytest.fixture(scope="session")
def home() -> Path:
    """The real data folder; tests needing it fail in CI and skip elsewhere when it is absent."""
    value = os.environ.get(ENV_VAR)
    if not value or not Path(value, "data").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{ENV_VAR} must point at the shared data folder in CI")
        pytest.skip(f"{ENV_VAR} is not set; real data unavailable")
    return Path(value).resolve()  # tests that change directory still find it


@pytest.fixture(scope="session")
def spg_dir(home: Path) -> Path:
    return home / "data" / "quickdraw-spg"


@pytest.fixture(scope="session")
def qd345_dir(home: Path) -> Path:
    return home / "data" / "quickdraw-345x25"


@pytest.fixture(scope="module")
def doodlenet(home):
    """DoodleNet, loaded once per test module."""
    from strokelens.models import load_model

    return load_model("doodlenet", home=home)


@pytest.fixture(scope="module")
def stroke_transformer(home):
    """The shipped stroke transformer, loaded once per test module."""
    from strokelens.models import load_model

    return load_model("stroke-transformer", home=home)


@pytest.fixture(scope="module")
def dark(home):
    """Tiny Darknet, loaded once per test module."""
    from strokelens.models import darknet

    return darknet.load(home)


#: Three ImageNet sample photos of different classes (`photo_paths`).
SAMPLE_PHOTOS = ["n01440764_tench.JPEG", "n02123045_tabby.JPEG", "n03888257_parachute.JPEG"]


@pytest.fixture(scope="module")
def photo_paths(home) -> list[Path]:
    """The `SAMPLE_PHOTOS` in the data folder."""
    paths = [home / "data" / "imagenet-samples" / n for n in SAMPLE_PHOTOS]
    return [p for p in paths if p.exists()] or pytest.skip("sample photos missing")


@pytest.fixture(scope="module")
def served(home):
    """DoodleNet as `strokelens serve` runs it (`strokelens.serve.handlers.Served`)."""
    from strokelens.serve.handlers import Served

    return Served.load("doodlenet", home=home)


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors gain nothing from threads, and on a busy machine extra threads stall for seconds.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def run_doc(home, tmp_path, monkeypatch):
    """``run_doc("docs/NAME.md", count)``: run a Markdown file's Python examples in one namespace, on
    the real data, in a temporary working folder; ``count`` (when given) is how many there must be.
    Returns the namespace."""
    from doc_examples import python_blocks, run_blocks

    def run(relative: str, count: int | None = None) -> dict:
        blocks = python_blocks(relative)
        if count is not None:
            assert len(blocks) == count, f"{relative} has {len(blocks)} Python examples, expected {count}"
        monkeypatch.setenv(ENV_VAR, str(home))
        monkeypatch.chdir(tmp_path)  # examples write under out/
        return run_blocks(relative, blocks)

    return run
