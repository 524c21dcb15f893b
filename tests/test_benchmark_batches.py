"""`benchmarks/_batches.BatchStore`: what lets a long benchmark resume where it stopped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _batches import BatchStore


def test_kept_batches_come_back_and_other_settings_are_refused(tmp_path):
    store = BatchStore(tmp_path / "run", {"limit": 100, "seed": 0})
    assert store.load(0) is None
    store.save(0, {"ms": {"gws": [1.5]}, "deferred": {"gws": torch.arange(3.0)}, "correct": [True]})
    again = BatchStore(tmp_path / "run", {"seed": 0, "limit": 100})  # same settings, any order
    back = again.load(0)
    assert back["ms"] == {"gws": [1.5]} and back["correct"] == [True]
    assert torch.equal(back["deferred"]["gws"], torch.arange(3.0))
    assert not list((tmp_path / "run").glob("*.tmp"))
    with pytest.raises(SystemExit, match="other settings"):
        BatchStore(tmp_path / "run", {"limit": 50, "seed": 0})
    assert BatchStore(None, {}).load(0) is None
