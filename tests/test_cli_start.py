"""Fast start: `strokelens --help` and `strokelens info` do not import PyTorch; the lazy command table
matches the commands."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from strokelens.cli import main
from strokelens.cli.app import COMMANDS, app

SRC = str(Path(__file__).resolve().parents[1] / "src")

#: Runs the CLI in a fresh interpreter, then reports exit codes and whether torch got imported.
PROBE = """
import json, sys
from strokelens.cli import main
codes = [main(json.loads(a)) for a in sys.argv[1:]]
heavy = sorted(m for m in ("torch", "matplotlib", "captum", "skimage") if m in sys.modules)
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, **kwargs)


def test_help_and_info_do_not_import_torch(spg_dir, tmp_path):
    sketch = spg_dir / "airplane.ndjson.gz"
    runs = [
        ["--help"],
        ["info", str(sketch), "--limit", "2"],
        ["info", "--json", str(sketch), "--limit", "1"],
        ["info", "--help"],
        ["predict", "--help"],
        ["info", str(tmp_path / "missing.ndjson")],  # the error path too
    ]
    proc = python("-c", PROBE, *map(json.dumps, runs))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0, 0, 0, 2]
    assert report["heavy"] == []
    assert "airplane" in proc.stdout and "Commands:" in proc.stdout
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("strokelens: error: no such file")


def test_python_m_entry_point_imports_no_torch(spg_dir):
    ant = str(spg_dir / "ant.ndjson.gz")
    proc = python("-X", "importtime", "-m", "strokelens.cli", "info", ant, "--limit", "3")
    assert proc.returncode == 0, proc.stderr
    assert "ant" in proc.stdout
    # importtime logs `import` statements (not importlib.import_module): the readers info.py imports
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert {"strokelens.cli.app", "strokelens.io", "rich.table"} <= imported
    assert not {"torch", "strokelens.cli.explain", "strokelens.models.doodlenet"} & imported


@pytest.mark.slow
def test_info_starts_in_under_a_second(spg_dir):
    """Best of three runs of `python -m strokelens.cli info` on a warm file cache: under 1 s of CPU
    time (user + system, which other load on a shared machine does not inflate; importing torch alone
    takes about 3 s) and, more generously, under 5 s of wall time."""
    args = ("-m", "strokelens.cli", "info", "--json", str(spg_dir / "pig.ndjson.gz"), "--limit", "1")
    python(*args)  # warm the file system cache
    cpu, wall = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = python(*args)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert proc.returncode == 0 and json.loads(proc.stdout)["class"] == "pig"
    assert min(cpu) < 1.0, cpu
    assert min(wall) < 5.0, wall


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_table_matches_the_commands(name):
    command = app.load(name)
    assert isinstance(command, click.Command) and command.name == name
    # the short help `--help` shows without importing the module is the command's own
    assert command.get_short_help_str(limit=10_000) == COMMANDS[name][1]


def test_every_command_module_is_in_the_table():
    """A module that registers a command on the group must be in COMMANDS, or the command is lost."""
    import importlib

    folder = Path(__file__).resolve().parents[1] / "src" / "strokelens" / "cli"
    decorators = ("\n@app.command(", "\n@app.group(")
    registering = [p.stem for p in folder.glob("*.py") if any(d in p.read_text() for d in decorators)]
    assert "info" in registering
    for stem in registering:
        importlib.import_module(f"strokelens.cli.{stem}")
    assert set(app.commands) == set(COMMANDS)
    assert {spec.split(":")[0].rsplit(".", 1)[1] for spec, _ in COMMANDS.values()} == set(registering)


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = out.split("Commands:", 1)[1].split()
    for name in COMMANDS:
        assert name in listed
    assert "Print strokes, points, bounding box" in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
