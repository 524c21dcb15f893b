"""What every benchmark shares: its three sizes, ``--json``, and how figures are written and shown.

Sizes, mutually exclusive: the full run (the default; its figures go to ``benchmarks/results`` and
the docs' figure tables), ``--quick`` (about a minute) and ``--smoke`` (a handful of real inputs in
seconds, run by ``make bench-smoke`` inside ``make test`` so that no benchmark rots unseen). A
benchmark picks its numbers with ``args.size.pick(full=..., quick=..., smoke=...)``. Only a full run
may write into ``benchmarks/results``.
"""

from __future__ import annotations

import argparse
import enum
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

RESULTS = Path(__file__).resolve().parent / "results"

T = TypeVar("T")


class Size(enum.Enum):
    """How big a run is."""

    SMOKE = "smoke"
    QUICK = "quick"
    FULL = "full"

    @property
    def is_full(self) -> bool:
        """True for the full run, the only one whose figures the figure tables show."""
        return self is Size.FULL

    def pick(self, *, full: T, quick: T, smoke: T) -> T:
        """The value for this size."""
        return {Size.FULL: full, Size.QUICK: quick, Size.SMOKE: smoke}[self]


class BenchmarkParser(argparse.ArgumentParser):
    """An argument parser whose namespace has ``size`` (a `Size`) and ``json`` (a path or None), and
    which refuses to let a run that is not full write into ``benchmarks/results``."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, rest = super().parse_known_args(args, namespace)
        if ns.json is not None and not ns.size.is_full and ns.json.resolve().is_relative_to(RESULTS):
            self.error(f"a --{ns.size.value} run never writes into {RESULTS} (full runs only)")
        return ns, rest


def benchmark_parser(
    description: str | None,
    *,
    quick: str = "a smaller run of about a minute",
    smoke: str = "a handful of real inputs, in seconds (make bench-smoke)",
) -> BenchmarkParser:
    """The parser every benchmark starts from: ``--smoke`` / ``--quick`` / full (default) and
    ``--json PATH``; ``quick`` and ``smoke`` are the help lines saying what those sizes run."""
    parser = BenchmarkParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--smoke", dest="size", action="store_const", const=Size.SMOKE, help=smoke)
    sizes.add_argument("--quick", dest="size", action="store_const", const=Size.QUICK, help=quick)
    parser.set_defaults(size=Size.FULL)
    parser.add_argument(
        "--json", type=Path, default=None, help="write the figures as one flat JSON object to this file"
    )
    return parser


def spg_classes_for(size: Size, home: str | None = None) -> list[str] | None:
    """The SPG classes a run reads: all of them (None) but in a smoke run, which reads 2 of the 20
    files (reading a file costs most of a smoke run: its split needs every sketch parsed)."""
    if size is not Size.SMOKE:
        return None
    from strokelens.datasets import spg_classes

    return spg_classes(home)[::10]


def write_figures(path: Path | None, figures: Mapping[str, Any]) -> None:
    """Write ``figures`` as one flat JSON object to ``path`` (nothing when it is None)."""
    if path is None:
        return
    nested = [k for k, v in figures.items() if isinstance(v, dict | list | tuple)]
    if nested:
        raise ValueError(f"figures must be flat; nested: {nested}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(figures), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def print_figures(figures: Mapping[str, Any], title: str) -> None:
    """Every figure as a two-column table (floats to 4 decimals)."""
    from rich.console import Console
    from rich.table import Table

    table = Table("figure", "value", title=title)
    for key, value in figures.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
