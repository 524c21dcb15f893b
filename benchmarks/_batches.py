"""Per-batch results kept on disk, so that a long benchmark stopped part way (a session's end, a kill)
resumes where it stopped instead of starting over: ``--resume DIR``.

Each batch's figures are one ``batchNNNNN.pt`` (plain tensors, lists and numbers, read back with
``torch.load(weights_only=True)``: no arbitrary pickles), written atomically; ``settings.json`` holds
the run's settings, and a folder holding another run's batches is refused rather than mixed in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


class BatchStore:
    """Batches of one run under ``folder`` (None: nothing kept, every batch measured)."""

    def __init__(self, folder: Path | None, settings: dict[str, Any]) -> None:
        self.folder = folder
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        wanted = json.loads(json.dumps(settings, sort_keys=True, default=str))
        path = folder / "settings.json"
        if path.exists() and json.loads(path.read_text()) != wanted:
            raise SystemExit(
                f"{folder} holds batches of a run with other settings; use another --resume folder"
            )
        path.write_text(json.dumps(wanted, indent=1, sort_keys=True))

    def _path(self, index: int) -> Path:
        assert self.folder is not None
        return self.folder / f"batch{index:05d}.pt"

    def kept(self, index: int) -> bool:
        """Whether batch ``index``'s results are on disk."""
        return self.folder is not None and self._path(index).exists()

    def load(self, index: int) -> dict[str, Any] | None:
        """Batch ``index``'s results if an earlier run kept them."""
        if not self.kept(index):
            return None
        return torch.load(self._path(index), weights_only=True)

    def save(self, index: int, results: dict[str, Any]) -> None:
        """Keep batch ``index``'s results (written to a temporary file, then renamed)."""
        if self.folder is None:
            return
        tmp = self._path(index).with_suffix(".tmp")
        torch.save(results, tmp)
        os.replace(tmp, self._path(index))
