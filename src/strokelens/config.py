"""Dataclass configs read from JSON: unknown keys and wrong arguments are errors, never dropped."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from strokelens.errors import StrokelensError

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """``cls(**data)``, refusing keys ``cls`` does not declare and arguments it does not take."""
    if not isinstance(data, dict):
        raise StrokelensError(f"a {cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise StrokelensError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise StrokelensError(f"bad {cls.__name__}: {exc}") from exc
