"""The one exception type strokelens raises for anything a user can cause, and the helpers that
raise it with the place or the choices."""

from __future__ import annotations

from collections.abc import Collection


class StrokelensError(ValueError):
    """Bad input, a missing file or an impossible request.

    The message says what was wrong and where (file, record, line). The CLI prints it as one line
    on stderr and exits with code 2.
    """


def where(source: str | None, record: int | str | None = None) -> str:
    """Format a location such as ``file.ndjson, record 12`` for error messages."""
    parts = []
    if source:
        parts.append(str(source))
    if record is not None:
        parts.append(f"record {record}")
    return ", ".join(parts) if parts else "<input>"


def check_choice(name: str, value: str, choices: Collection[str]) -> None:
    """Refuse a value outside ``choices``, naming them."""
    if value not in choices:
        raise StrokelensError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
