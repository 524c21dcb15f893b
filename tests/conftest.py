"""Shared fixtures. Real data comes from $STROKELENS_HOME (the Makefile points it at ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strokelens.home import ENV_VAR


@pytest.fixture(scope="session")
def home() -> Path:
    """The real data folder; tests needing it fail in CI and skip elsewhere when it is absent."""
    value = os.environ.get(ENV_VAR)
    if not value or not Path(value, "data").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{ENV_VAR} must point at the shared data folder in CI")
        pytest.skip(f"{ENV_VAR} is not set; real data unavailable")
    return Path(value)


@pytest.fixture(scope="session")
def spg_dir(home: Path) -> Path:
    return home / "data" / "quickdraw-spg"


@pytest.fixture(scope="session")
def qd345_dir(home: Path) -> Path:
    return home / "data" / "quickdraw-345x25"
