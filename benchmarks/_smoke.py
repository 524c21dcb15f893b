"""Run every benchmark with ``--smoke``, one at a time, and print how long each took (`make bench-smoke`).

Each run (one thread, unless OMP_NUM_THREADS says otherwise) writes its figures to a temporary file,
which must be one flat JSON object marked as not a full run; ``benchmarks/results`` must be left
untouched. A failing benchmark's output is printed and
the exit status is 1. Standard library only.

    python benchmarks/_smoke.py                 # every benchmark
    python benchmarks/_smoke.py attack io_speed # some of them
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
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


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(script: Path, out: Path) -> tuple[float, float, str | None]:
    """Wall and CPU seconds of one smoke run (the CPU seconds of every process it started), and what
    went wrong (None when nothing did)."""
    start, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(
        [sys.executable, str(script), "--smoke", "--json", str(out)], capture_output=True, text=True, env=ENV
    )
    seconds = time.perf_counter() - start
    cpu = cpu_of_children() - cpu
    problem = check(done, out)
    return seconds, cpu, problem


def check(done: subprocess.CompletedProcess, out: Path) -> str | None:
    if done.returncode != 0:
        return f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    try:
        figures = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        return f"no JSON figures at {out}: {exc}"
    if not isinstance(figures, dict) or any(isinstance(v, dict | list) for v in figures.values()):
        return "the figures are not one flat JSON object"
    if "quick" in figures and figures["quick"] is not True:
        return 'a smoke run must write "quick": true (the README refuses runs that are not full)'
    return None


def main(argv: list[str]) -> int:
    scripts = benchmarks()
    if argv:
        scripts = [s for s in scripts if s.stem in argv]
        unknown = set(argv) - {s.stem for s in scripts}
        if unknown:
            print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
    before = snapshot()
    failed = []
    total = total_cpu = 0.0
    print(f"{'wall':>8}  {'CPU':>8}  benchmark --smoke (CPU: every process it ran, on any core)")
    with tempfile.TemporaryDirectory(prefix="strokelens-smoke-") as tmp:
        for script in scripts:
            seconds, cpu, problem = run(script, Path(tmp) / f"{script.stem}.json")
            total, total_cpu = total + seconds, total_cpu + cpu
            print(f"{seconds:6.1f} s  {cpu:6.1f} s  {script.stem}{'  FAILED' if problem else ''}", flush=True)
            if problem:
                failed.append(script.stem)
                print(problem, file=sys.stderr)
    if snapshot() != before:
        failed.append("(benchmarks/results was written to)")
    verdict = f"; FAILED: {', '.join(failed)}" if failed else ""
    load = os.getloadavg()[0]
    print(f"{total:6.1f} s  {total_cpu:6.1f} s  all {len(scripts)} (load average {load:.1f}){verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
