"""What every figure-table row is made of: the row type and the number formatting the rows share."""

from __future__ import annotations

from collections.abc import Callable, Mapping

Figures = Mapping[str, object]
#: (what the row says, with ``{key}`` fields from the figures; the figure cell made from the figures).
Row = tuple[str, Callable[[Figures], str]]


def number(value: object, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals."""
    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def join(figures: Figures, pattern: str, names: tuple[str, ...], digits: int = 3) -> str:
    """``pattern.format(name)`` for every name, as numbers joined by `` / ``."""
    return " / ".join(number(figures[pattern.format(name)], digits) for name in names)
