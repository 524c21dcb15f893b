"""How fast do sketch files load? Reads every SPG sketch (20 gzipped ndjson files, raw coordinates with
part labels), every quickdraw-345x25 sketch (344 simplified ndjson files) and the TU-Berlin SVGs, and
round-trips the simplified sketches through a sketch-rnn ``.npz``. Reports sketches per second of wall
time (median and best of --repeat passes) and of process CPU time (robust to other load on the machine).

    python benchmarks/io_speed.py --smoke   # or --quick; the full run:
    python benchmarks/io_speed.py --json benchmarks/results/io_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from _common import benchmark_parser, write_figures
from strokelens.datasets import QD345_DIR, SPG_DIR
from strokelens.home import home_path
from strokelens.io import read_quickdraw, read_spg, read_strokes3, read_svg, write_strokes3
from strokelens.sketch import Sketch


def measure(read: Callable[[Path], Iterable[Sketch]], files: list[Path], repeat: int) -> dict[str, float]:
    """Read every file ``repeat`` times; sketch count and per-pass wall and CPU seconds."""
    walls, cpus, count = [], [], 0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        count = sum(1 for f in files for _ in read(f))
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    med = statistics.median(walls)
    return {
        "files": len(files),
        "sketches": count,
        "seconds": med,
        "sketches_per_s": count / med,
        "sketches_per_s_best": count / min(walls),
        "sketches_per_cpu_s": count / statistics.median(cpus),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="4 SPG files, 40 QuickDraw files, one pass",
        smoke="1 SPG file, 4 QuickDraw files, 8 SVGs",
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes over the files (median reported)")
    parser.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    spg = sorted(home_path(SPG_DIR, args.home).glob("*.ndjson.gz"))
    qd = sorted(home_path(QD345_DIR, args.home).glob("*.ndjson"))
    tu = sorted(home_path("data/tu-berlin-svg", args.home).glob("*/*.svg"))
    repeat = args.size.pick(full=args.repeat, quick=1, smoke=1)
    spg = spg[: args.size.pick(full=None, quick=4, smoke=1)]
    qd = qd[: args.size.pick(full=None, quick=40, smoke=4)]
    tu = tu[: args.size.pick(full=None, quick=None, smoke=8)]

    results = {
        "spg": measure(read_spg, spg, repeat),
        "qd345": measure(read_quickdraw, qd, repeat),
        "tu_berlin_svg": measure(read_svg, tu, repeat),
    }
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "qd345.npz"
        write_strokes3([s for f in qd for s in read_quickdraw(f)], npz)
        results["npz"] = measure(read_strokes3, [npz], repeat)

    out: dict[str, float | int | bool] = {"quick": not args.size.is_full, "repeat": repeat}
    table = Table("data", "files", "sketches", "s (median)", "sketches/s", "best", "per CPU s")
    for name, r in results.items():
        for key, value in r.items():
            out[f"{name}_{key}"] = round(value, 4) if isinstance(value, float) else value
        table.add_row(
            name,
            str(r["files"]),
            str(r["sketches"]),
            f"{r['seconds']:.3f}",
            f"{r['sketches_per_s']:,.0f}",
            f"{r['sketches_per_s_best']:,.0f}",
            f"{r['sketches_per_cpu_s']:,.0f}",
        )
    Console().print(table)
    write_figures(args.json, out)


if __name__ == "__main__":
    main()
