"""How fast is `strokelens explain` over a whole dataset, and does it survive being killed?

Runs the real command (a subprocess: start-up, model load, planning, reading, SLA, Parquet shards,
manifests and the 50 report pictures all count) over every SPG sketch (20 files, 16,000 drawings),
and in the same run the baseline: a tight in-process loop that reads, prepares and explains the same
sketches with the same method (SLA, batch 32, target auto; the model loaded beforehand), half of the
files just before the job and half just after, so that a change of load on a shared machine falls
on both sides alike. `job_efficiency` is the job's rate over the baseline's (`baseline_*`). Then a
job killed with SIGKILL at ``--kills`` random moments (a random number of shards on, plus a random
part of a shard's time) and resumed each time (rows lost, rows duplicated, scores equal to the
uninterrupted run's), and the job on a local Ray (2 actors, `--backend ray`) against the local
output, row for row (timings aside). Full: those are the whole job; ``--quick``: 8 files (6,400
sketches, so that start-up does not dominate the efficiency) and, for the kills and Ray, the first
file alone (compared with the whole job's rows of that file).

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

import pyarrow as pa
import pyarrow.compute as pc
import torch
from rich.console import Console
from rich.table import Table

from _common import Size, benchmark_parser, write_figures
from strokelens.home import home_path
from strokelens.io import read_sketches
from strokelens.jobs import JobFolder
from strokelens.jobs.rows import TIMING_COLUMNS
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


class Baseline:
    """The tight in-process loop the job is measured against: read each file, prepare its sketches
    and explain them with SLA, 32 at a time (the model loaded once, beforehand)."""

    def __init__(self) -> None:
        self.view = view_for(load_model("doodlenet"))
        self.method = get_method("sla")(self.view)

    def run(self, files, limit) -> tuple[float, int]:
        """``(seconds, sketches)`` of the loop over ``files`` (at most ``limit`` sketches each)."""
        view, n = self.view, 0
        start = time.perf_counter()
        for f in files:
            sketches = list(read_sketches(f, limit=limit))
            for i in range(0, len(sketches), 32):
                batch = view.prepare(sketches[i : i + 32])
                self.method.attribute(view.units_for(batch, "stroke"), target="auto")
                n += len(batch)
        return time.perf_counter() - start, n


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """True when two jobs' rows are the same, timings aside (`strokelens.jobs.rows_equal` on tables)."""
    keep = [c for c in a.column_names if c not in TIMING_COLUMNS]
    return a.select(keep).equals(b.select(keep))


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
        quick="8 files (6,400 sketches); 3 kills and Ray on the first file",
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
    # Full: 32 shards of 500; quick: 8 of 800, and kills and Ray on the first file in 5 shards of 160;
    # smoke: 4 shards of 10 sketches, so that kills land between shards and within them. Shards of
    # multiples of 32 (the batch size) give the kill job's batches the whole job's, so that their rows
    # can be equal to the last bit.
    job, kill_job = args.size.pick(
        full=(Job(files, None, 500),) * 2,
        quick=(Job(files[:8], None, 800), Job(files[:1], None, 160)),
        smoke=(Job(files[:1], 40, 10),) * 2,
    )
    kills = args.kills
    work = Path(tempfile.mkdtemp(prefix="strokelens-job-"))
    try:
        baseline = Baseline()
        # half the files before the job, half after (one file: all of it on both sides)
        half = len(job.files) // 2
        first, second = (job.files[:half], job.files[half:]) if half else (job.files, job.files)
        before_s, n_before = baseline.run(first, job.limit)
        whole_s = job.run(work / "whole", *args.size.pick(full=(), quick=(), smoke=("--pictures", "4")))
        after_s, n_after = baseline.run(second, job.limit)
        n_alone = n_before + n_after
        n = JobFolder(work / "whole").read_rows().num_rows
        manifest = json.loads((work / "whole" / "manifest.json").read_text())
        # The kill job's rows are the whole job's rows of its files (all of them when it is the job).
        whole = JobFolder(work / "whole").read_rows()
        sources = [str(f) for f in kill_job.files]
        whole = whole.filter(pc.is_in(whole.column("source"), pa.array(sources)))
        expected = set(
            zip(whole.column("source").to_pylist(), whole.column("index").to_pylist(), strict=True)
        )
        kill_shards = -(-len(expected) // kill_job.shard_size)
        shard_s = whole_s * len(expected) / n / kill_shards
        landed = killed_and_resumed(kill_job, work / "killed", kills, kill_shards, shard_s, args.seed)
        rows = JobFolder(work / "killed").read_rows()
        keys = list(zip(rows.column("source").to_pylist(), rows.column("index").to_pylist(), strict=True))
        baseline_rate = n_alone / (before_s + after_s)
        out = {
            "quick": not args.size.is_full,
            "threads": torch.get_num_threads(),
            "load_average_start": round(os.getloadavg()[0], 2),
            "job_sketches": n,
            "job_shards": len(manifest["shards"]),
            "job_seconds": round(whole_s, 2),
            "job_sla_sketches_per_s": round(n / whole_s, 1),
            "baseline_sketches_per_s": round(baseline_rate, 1),
            "baseline_seconds": round(before_s + after_s, 2),
            "baseline_before_per_s": round(n_before / before_s, 1),
            "baseline_after_per_s": round(n_after / after_s, 1),
            "job_efficiency": round(n / whole_s / baseline_rate, 3),
            "job_resume_sketches": len(expected),
            "job_resume_kills": kills,
            "job_resume_kills_landed": landed,
            "job_resume_rows_lost": len(expected - set(keys)),
            "job_resume_rows_duplicated": len(keys) - len(set(keys)),
            "job_resume_rows_equal": int(same_rows(JobFolder(work / "killed").read_rows(), whole)),
        }
        assert n_alone == n * (1 if half else 2)  # the loop saw each sketch once (one file: twice)
        if not args.no_ray:
            ray_s = kill_job.run(work / "ray", "--backend", "ray", "--workers", "2", "--pictures", "0")
            out["ray_job_sketches_per_s"] = round(len(expected) / ray_s, 1)
            out["ray_rows_equal"] = int(same_rows(JobFolder(work / "ray").read_rows(), whole))
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
