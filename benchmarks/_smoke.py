"""Run every benchmark with ``--smoke`` and print how long each took (`make bench-smoke`).

Each run (one thread, unless OMP_NUM_THREADS says otherwise) writes its figures to a temporary file,
which must be one flat JSON object marked as not a full run; ``benchmarks/results`` must be left
untouched. A failing benchmark's output is printed and the exit status is 1. Standard library only.

    python benchmarks/_smoke.py                  # every benchmark, one at a time
    python benchmarks/_smoke.py -j 2             # two at a time (make bench-smoke: a 2-core machine)
    python benchmarks/_smoke.py attack io_speed  # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: One thread a run: a smoke run's tensors are tiny, and two threads on a busy machine spend most of
#: their time waiting for each other (sla_variants: 45 CPU seconds with two, 9 with one).
ENV = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def benchmarks() -> list[Path]:
    """Every benchmark script (not the figures table, not ``_*`` helpers)."""
    return sorted(p for p in HERE.glob("*.py") if p.stem != "figures" and not p.stem.startswith("_"))


def snapshot() -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in RESULTS.glob("*")}


def run(script: Path, out: Path) -> tuple[float, float, str | None]:
    """Wall and CPU seconds of one smoke run (with every process it started and waited for), and what
    went wrong (None when nothing did)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--smoke", "--json", str(out)], stdout=log, stderr=log, env=ENV
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read()
    if proc.returncode != 0:
        return seconds, usage.ru_utime + usage.ru_stime, f"exit {proc.returncode}\n{output[-12000:]}"
    return seconds, usage.ru_utime + usage.ru_stime, check(out)


def check(out: Path) -> str | None:
    """What is wrong with a smoke run's figures, or None."""
    try:
        figures = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        return f"no JSON figures at {out}: {exc}"
    if not isinstance(figures, dict) or any(isinstance(v, dict | list) for v in figures.values()):
        return "the figures are not one flat JSON object"
    if "quick" in figures and figures["quick"] is not True:
        return 'a smoke run must write "quick": true (the figure tables refuse runs that are not full)'
    return None


def keys_covered(name: str, out: Path) -> str:
    """How many of the committed full run's figure names the smoke run also wrote (``12/12``): a smaller
    run may leave some out (fewer classes, no Ray), but a renamed figure shows up here first."""
    try:
        full = set(json.loads((RESULTS / f"{name}.json").read_text()))
        smoke = set(json.loads(out.read_text()))
    except (OSError, ValueError):
        return "-"
    return f"{len(full & smoke)}/{len(full)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="smoke runs at a time (one thread each)")
    args = parser.parse_args(argv)
    scripts = benchmarks()
    unknown = set(args.names) - {s.stem for s in scripts}
    if unknown:
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
    if args.names:
        scripts = [s for s in scripts if s.stem in args.names]
    before = snapshot()
    failed = []
    total_cpu = 0.0
    start = time.perf_counter()
    print(
        f"{'wall':>8}  {'CPU':>8}  {'keys':>9}  benchmark --smoke ({args.jobs} at a time; CPU: with every "
        "process it ran; keys: the full run's figure names it also wrote)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="strokelens-smoke-") as tmp,
        ThreadPoolExecutor(max(1, args.jobs)) as pool,
    ):
        runs = {pool.submit(run, script, Path(tmp) / f"{script.stem}.json"): script for script in scripts}
        for done in as_completed(runs):
            seconds, cpu, problem = done.result()
            total_cpu += cpu
            name = runs[done].stem
            keys = keys_covered(name, Path(tmp) / f"{name}.json")
            print(
                f"{seconds:6.1f} s  {cpu:6.1f} s  {keys:>9}  {name}{'  FAILED' if problem else ''}",
                flush=True,
            )
            if problem:
                failed.append(name)
                print(problem, file=sys.stderr, flush=True)
    if snapshot() != before:
        failed.append("(benchmarks/results was written to)")
    verdict = f"; FAILED: {', '.join(failed)}" if failed else ""
    load = os.getloadavg()[0]
    total = time.perf_counter() - start
    print(
        f"{total:6.1f} s  {total_cpu:6.1f} s  {'':>9}  all {len(scripts)} (load average {load:.1f}){verdict}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
