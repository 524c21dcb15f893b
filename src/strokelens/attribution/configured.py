"""A configured method: a method and its checked options, one value (as zennit's
``IntegratedGradients(model, n_iter=...)`` is), instead of a name and a dict that travel apart.

``Configured("ig", {"steps": 32})`` refuses an option ``ig`` does not declare, or a value of the wrong
type, with an error that names it; two configured methods with the same method and options are equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from strokelens.attribution.base import Method, check_options, get_method

if TYPE_CHECKING:
    from strokelens.explanation import Explanation
    from strokelens.views.base import View


@dataclass(frozen=True)
class Configured:
    """``method`` (a class, or a registered name) with ``options`` checked against its typed options."""

    method: type[Method]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, method: str | type[Method], options: Mapping[str, Any] | None = None) -> None:
        cls = get_method(method) if isinstance(method, str) else method
        opts = dict(options or {})
        check_options(cls, opts)
        object.__setattr__(self, "method", cls)
        object.__setattr__(self, "options", MappingProxyType(opts))

    @classmethod
    def of(cls, name: str, **options: Any) -> Configured:
        """``Configured.of("ig", steps=32)``."""
        return cls(name, options)

    @property
    def name(self) -> str:
        return self.method.name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Configured)
            and self.method is other.method
            and dict(self.options) == dict(other.options)
        )

    def __hash__(self) -> int:
        return hash((self.method, tuple(sorted((k, repr(v)) for k, v in self.options.items()))))

    def __reduce__(self) -> tuple[Any, ...]:
        # by name, so that a configured method crosses processes (Ray) as the name and options it is
        return (Configured, (self.name, dict(self.options)))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Configured({self.name}{', ' if opts else ''}{opts})"

    def on(self, view: View) -> Method:
        """The method bound to ``view``."""
        return self.method(view)

    def attribute(self, view: View, inputs: Any, **settings: Any) -> Explanation:
        """``method(view).attribute(inputs, **settings, **options)``: ``settings`` are the shared
        ones (``target``, ``units``, ``seed``, ``score``, piece options), never method options."""
        return self.on(view).attribute(inputs, **settings, **self.options)

    def evaluations(self, k: int) -> float:
        """Model evaluations per input of ``k`` units (`Method.evaluations`)."""
        return self.method.evaluations(k, **self.options)
