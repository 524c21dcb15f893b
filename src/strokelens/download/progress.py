"""Byte progress bars for downloads on stderr (rich): one for the current file, one for all of them."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class DownloadProgress:
    """``with DownloadProgress(total, enabled) as bars:`` then `start` each file and feed `update`.

    ``total`` is the bytes of all files when known (None: the overall bar counts without an end).
    ``enabled=None`` shows the bars only when stderr is a terminal.
    """

    def __init__(self, total: int | None, n_files: int, enabled: bool | None = None) -> None:
        console = Console(stderr=True)
        show = console.is_terminal if enabled is None else enabled
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not show,
        )
        self.overall = self.bars.add_task(f"all {n_files} files", total=total)
        self.file = None
        self.finished = 0  # bytes of the files already done
        self.current = 0

    def __enter__(self) -> DownloadProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.stop()

    def start(self, name: str) -> None:
        """Begin a bar for file ``name``."""
        self.finished += self.current
        self.current = 0
        if self.file is not None:
            self.bars.remove_task(self.file)
        self.file = self.bars.add_task(name, total=None)

    def update(self, done: int, total: int | None) -> None:
        """The current file has ``done`` bytes of ``total`` on disk."""
        self.current = done
        self.bars.update(self.file, completed=done, total=total)
        self.bars.update(self.overall, completed=self.finished + done)
