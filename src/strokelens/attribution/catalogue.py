"""Questions about the registered methods, asked of their capabilities, never of lists of names.

``methods_where(learned=True)``, ``methods_where(units="stroke", interactive=True)``: the names of the
methods that fit, in listing order (`Method.listing`, then name). ``catalogue.json`` beside this module
is the same facts as data for code that runs without PyTorch (`strokelens.defaults`); a test fails
while it is stale. Regenerate it after changing a method's capabilities::

    python -m strokelens.methods --write     # `make catalogue`; --check exits 1 when stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from strokelens.attribution.base import METHODS, Method
from strokelens.errors import StrokelensError

#: The packaged catalogue.
CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")
#: Capabilities `methods_where` asks about (``units``: a unit kind the method takes).
CAPABILITIES = (
    "family",
    "learned",
    "needs_gradients",
    "model_free",
    "reference",
    "scores_coalitions",
    "callable_targets",
    "needs_sketch_points",
    "interactive",
    "uses_seed",
    "evaluated_on",
    "units",
    "max_units",
)


def listed(methods: Any = None) -> list[type[Method]]:
    """``methods`` (default: every registered one) in listing order."""
    classes = METHODS.values() if methods is None else methods
    return sorted(classes, key=lambda cls: (cls.listing, cls.name))


def _fits(cls: type[Method], capability: str, wanted: Any) -> bool:
    if capability == "units":
        return cls.takes_units(wanted)
    have = getattr(cls, capability)
    if isinstance(have, tuple) and not isinstance(wanted, tuple):
        return wanted in have
    return have == wanted


def methods_where(**capabilities: Any) -> tuple[str, ...]:
    """The names of the registered methods with every given capability, in listing order:
    ``learned=True``, ``model_free=False``, ``units="superpixel"`` (takes those units),
    ``evaluated_on="stroke"`` (one of its values)."""
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise StrokelensError(
            f"unknown method capability {', '.join(map(repr, unknown))}; known: {', '.join(CAPABILITIES)}"
        )
    return tuple(cls.name for cls in listed() if all(_fits(cls, c, v) for c, v in capabilities.items()))


def learned_methods() -> tuple[str, ...]:
    """The learned explainers (they take ``weights=PATH``)."""
    return methods_where(learned=True)


def entry(cls: type[Method]) -> dict[str, Any]:
    """One method's capabilities as JSON-ready data."""
    kinds = list(cls.units_type.all_kinds()) if cls.units_type.KINDS else []
    return {
        "name": cls.name,
        "family": cls.family,
        "learned": cls.learned,
        "needs_gradients": cls.needs_gradients,
        "model_free": cls.model_free,
        "reference": cls.reference,
        "scores_coalitions": cls.scores_coalitions,
        "callable_targets": cls.callable_targets,
        "needs_sketch_points": cls.needs_sketch_points,
        "interactive": cls.interactive,
        "uses_seed": cls.uses_seed,
        "units": kinds or "any",
        "default_units": cls.default_units if cls.takes_units(cls.default_units) else None,
        "max_units": cls.max_units,
        "evaluated_on": list(cls.evaluated_on),
        "cost": str(cls.cost),
        "listing": cls.listing,
    }


def catalogue() -> dict[str, Any]:
    """Every registered method's capabilities, in listing order (the form of ``catalogue.json``)."""
    return {"methods": [entry(cls) for cls in listed()]}


def catalogue_text() -> str:
    return json.dumps(catalogue(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the methods' capability catalogue.")
    parser.add_argument("--write", action="store_true", help=f"rewrite {CATALOGUE_FILE.name}")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {CATALOGUE_FILE.name} is stale")
    args = parser.parse_args(argv)
    text = catalogue_text()
    if args.check:
        current = CATALOGUE_FILE.read_text(encoding="utf-8") if CATALOGUE_FILE.is_file() else ""
        if current != text:
            print(f"{CATALOGUE_FILE}: stale; run `python -m strokelens.methods --write`")
            return 1
    if args.write:
        CATALOGUE_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {CATALOGUE_FILE}")
    if not (args.check or args.write):
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
