"""How fast do sketch files load? Reads every SPG sketch (20 gzipped ndjson files, raw coordinates with
part labels), every quickdraw-345x25 sketch (344 simplified ndjson files) and the TU-Berlin SVGs, and
round-trips the simplified sketches through a sketch-rnn ``.npz``. Reports sketches per second of wall
time (median and best of --repeat passes) and of process CPU time (robust to other load on the machine).

    python benchmarks/io_speed.py --quick --json out/io_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console
from rich.table import Table

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="4 SPG files, 40 QuickDraw files, one pass")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the files (median reported)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as a flat JSON object")
    parser.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    args = parser.parse_args()

    spg = sorted(home_path(SPG_DIR, args.home).glob("*.ndjson.gz"))
    qd = sorted(home_path(QD345_DIR, args.home).glob("*.ndjson"))
    tu = sorted(home_path("data/tu-berlin-svg", args.home).glob("*/*.svg"))
    repeat = args.repeat
    if args.quick:
        spg, qd, repeat = spg[:4], qd[:40], 1

    results = {
        "spg": measure(read_spg, spg, repeat),
        "qd345": measure(read_quickdraw, qd, repeat),
        "tu_berlin_svg": measure(read_svg, tu, repeat),
    }
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "qd345.npz"
        write_strokes3([s for f in qd for s in read_quickdraw(f)], npz)
        results["npz"] = measure(read_strokes3, [npz], repeat)

    out: dict[str, float | int | bool] = {"quick": args.quick, "repeat": repeat}
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
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
