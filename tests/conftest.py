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
def one_thread():
    """Small tensors gain nothing from threads, and on a busy machine extra threads stall for seconds.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
