"""The one progress bar of training runs (rich, as the rest of the CLI) and its epoch lines."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainingProgress:
    """A bar over every step of the run and one line per epoch.

    Lines go to ``log`` when given (also with the bar off), else to the bar's console when it is on.
    """

    def __init__(self, label: str, total: int, enabled: bool, log: Callable[[str], None] | None = None):
        self.enabled, self._log = enabled, log
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            disable=not enabled,
        )
        self.task = self.bar.add_task(label, total=total, info="")

    def __enter__(self) -> TrainingProgress:
        self.bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.__exit__(kind, exc, tb)

    def step(self, info: str) -> None:
        """One step done; ``info`` shows beside the bar."""
        self.bar.update(self.task, advance=1, info=info)

    def line(self, message: str) -> None:
        """A line for the log (an epoch's summary)."""
        if self._log is not None:
            self._log(message)
        elif self.enabled:
            self.bar.console.log(message)
