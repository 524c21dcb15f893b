"""Per-batch results kept on disk, so that a long benchmark stopped part way (a session's end, a kill)
resumes where it stopped instead of starting over: ``--resume DIR``.

Each batch's figures are one ``batchNNNNN.pt`` (plain tensors, lists and numbers, read back with
``torch.load(weights_only=True)``: no arbitrary pickles), written atomically; ``settings.json`` holds
the run's settings, and a folder holding another run's batches is refused rather than mixed in.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch


def add_resume_options(parser: argparse.ArgumentParser) -> None:
    """``--resume DIR`` and ``--measure-backward`` (check them with `check_resume_options`)."""
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="keep each batch's figures in this folder and reuse the ones an earlier run with the same "
        "settings kept (a full run takes about an hour or more)",
    )
    parser.add_argument(
        "--measure-backward",
        action="store_true",
        help="with --resume: measure the missing batches last to first, stop at the first one kept, and "
        "write no figures (a second process taking a running run's tail, on a machine with idle cores)",
    )


def check_resume_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse ``--measure-backward`` without ``--resume``."""
    if args.measure_backward and args.resume is None:
        parser.error("--measure-backward needs --resume (the folder the running run keeps its batches in)")


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

    def measure_backward(
        self, starts: Sequence[int], measure: Callable[[int], dict[str, Any]], report: Callable[[int], None]
    ) -> None:
        """``--measure-backward``: measure and keep the batches starting at ``starts`` from the last
        one back, stopping at the first one kept (where the run taking them in order has been)."""
        for index in reversed(starts):
            if self.kept(index):
                break
            self.save(index, measure(index))
            report(index)
