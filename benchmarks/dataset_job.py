"""How fast is `strokelens explain` over a whole dataset, and does it survive being killed?

Runs the real command (a subprocess: start-up, model load, reading, SLA, Parquet shards and the 50
report pictures all count) over every SPG sketch (20 files, 16,000 drawings), and in the same run SLA
alone on the same sketches, already read and prepared, batch 32, measured just before and just after
the job (`job_efficiency` is the job's rate over their mean). Then the same job killed with SIGKILL
at ``--kills`` random moments (a random number of shards on, plus a random part of a shard's time)
and resumed each time (rows lost, rows duplicated, scores equal to the uninterrupted run's), and the
job on a local Ray (2 actors, `--backend ray`) against the local output, row for row (timings aside).

    python benchmarks/dataset_job.py --smoke   # or --quick; the full run:
    python benchmarks/dataset_job.py --json benchmarks/results/dataset_job.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from _common import Size, benchmark_parser, write_figures
from strokelens.home import home_path
from strokelens.io import read_sketches
from strokelens.jobs import JobFolder, rows_equal
from strokelens.methods import get_method
from strokelens.models import load_model
from strokelens.views import view_for

CLI = "import sys; from strokelens.cli import main; sys.exit(main())"


@dataclass
class Job:
    """One `strokelens explain` job over ``files`` (at most ``limit`` drawings each)."""

    files: list[Path]
    limit: int | None
    shard_size: int

    def command(self, out: Path, *extra: str) -> list[str]:
        args = [sys.executable, "-c", CLI, "explain", *map(str, self.files), "--method", "sla"]
        args += ["--out", str(out), "--shard-size", str(self.shard_size)]
        return args + (["--limit", str(self.limit)] if self.limit else []) + list(extra)

    def run(self, out: Path, *extra: str) -> float:
        """Wall seconds of one whole run (which must succeed)."""
        start = time.perf_counter()
        done = subprocess.run(self.command(out, *extra), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"strokelens explain failed:\n{done.stderr}")
        return time.perf_counter() - start


def sla_alone(files, limit) -> tuple[float, int]:
    """Sketches per second of SLA alone (prepared sketches, batch 32, target auto), and how many."""
    view = view_for(load_model("doodlenet"))
    sketches = view.prepare([s for f in files for s in read_sketches(f, limit=limit)])
    method = get_method("sla")(view)
    start = time.perf_counter()
    for i in range(0, len(sketches), 32):
        method.attribute(view.units_for(sketches[i : i + 32], "stroke"), target="auto")
    return len(sketches) / (time.perf_counter() - start), len(sketches)


def killed_and_resumed(job: Job, out: Path, kills: int, total_shards: int, shard_s: float, seed: int) -> int:
    """Start the job with --resume and SIGKILL it at a random moment, ``kills`` times, then let it
    finish. A moment is a random number of shards further on (up to half of those left, so that
    every kill finds work left) plus a random part of one shard's time (``shard_s``). Returns how
    many kills landed before the job had finished."""
    rng = random.Random(seed)
    landed = 0
    for _ in range(kills):
        done = len(list((out / "shards").glob("shard-*.parquet"))) if out.exists() else 0
        left = total_shards - done
        if left < 2:
            break
        goal = done + rng.randint(1, max(1, left // 2))
        proc = subprocess.Popen(
            job.command(out, "--resume", "--pictures", "0"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None and len(list((out / "shards").glob("shard-*.parquet"))) < goal:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, shard_s))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            landed += 1
        proc.wait()
    job.run(out, "--resume", "--pictures", "0")
    return landed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="3 files x 200 sketches, 3 kills",
        smoke="1 file x 40 sketches in shards of 10, 4 pictures, 1 kill, no Ray",
    )
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run (a smoke run always does)")
    args = parser.parse_args(argv)
    args.kills = args.size.pick(full=args.kills, quick=min(args.kills, 3), smoke=min(args.kills, 1))
    args.no_ray = args.no_ray or args.size is Size.SMOKE  # starting Ray alone takes longer than a smoke run
    return args


def main() -> None:
    args = parse_args()
    files = sorted(home_path("data/quickdraw-spg").glob("*.ndjson.gz"))
    # Full: 32 shards of 500; quick: 6 of 100; smoke: 4 of 10, so that kills land between shards and
    # within them.
    job = args.size.pick(
        full=Job(files, None, 500), quick=Job(files[:3], 200, 100), smoke=Job(files[:1], 40, 10)
    )
    kills = args.kills
    work = Path(tempfile.mkdtemp(prefix="strokelens-job-"))
    try:
        # SLA alone just before and just after the job, so that a change of load on a shared machine
        # falls on both sides of the ratio alike.
        before, n_alone = sla_alone(job.files, job.limit)
        whole_s = job.run(work / "whole", *args.size.pick(full=(), quick=(), smoke=("--pictures", "4")))
        after, _ = sla_alone(job.files, job.limit)
        compute_rate = (before + after) / 2
        n = JobFolder(work / "whole").read_rows().num_rows
        manifest = json.loads((work / "whole" / "manifest.json").read_text())
        shards = len(manifest["shards"])
        landed = killed_and_resumed(job, work / "killed", kills, shards, whole_s / shards, args.seed)
        rows = JobFolder(work / "killed").read_rows()
        keys = list(zip(rows.column("source").to_pylist(), rows.column("index").to_pylist(), strict=True))
        expected = set(
            zip(
                *(JobFolder(work / "whole").read_rows().column(c).to_pylist() for c in ("source", "index")),
                strict=True,
            )
        )
        out = {
            "quick": not args.size.is_full,
            "threads": torch.get_num_threads(),
            "load_average_start": round(os.getloadavg()[0], 2),
            "job_sketches": n,
            "job_shards": len(manifest["shards"]),
            "job_seconds": round(whole_s, 2),
            "job_sla_sketches_per_s": round(n / whole_s, 1),
            "sla_compute_sketches_per_s": round(compute_rate, 1),
            "sla_compute_before_per_s": round(before, 1),
            "sla_compute_after_per_s": round(after, 1),
            "job_efficiency": round(n / whole_s / compute_rate, 3),
            "job_resume_kills": kills,
            "job_resume_kills_landed": landed,
            "job_resume_rows_lost": len(expected - set(keys)),
            "job_resume_rows_duplicated": len(keys) - len(set(keys)),
            "job_resume_rows_equal": int(rows_equal(work / "killed", work / "whole")),
        }
        assert n_alone == n
        if not args.no_ray:
            ray_s = job.run(work / "ray", "--backend", "ray", "--workers", "2", "--pictures", "0")
            out["ray_job_sketches_per_s"] = round(n / ray_s, 1)
            out["ray_rows_equal"] = int(rows_equal(work / "ray", work / "whole"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(
        "figure",
        "value",
        title=f"strokelens explain over {out['job_sketches']} SPG sketches (SLA, DoodleNet)",
    )
    for key, value in out.items():
        table.add_row(key, str(value))
    Console().print(table)
    write_figures(args.json, out)


if __name__ == "__main__":
    main()
