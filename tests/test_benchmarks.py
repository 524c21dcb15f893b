"""Every benchmark takes the same sizes (--smoke, --quick, full) and --json (benchmarks/_common.py).

Only the command lines are checked here, and fast: `make bench-smoke` (inside `make test`) runs each
benchmark on a handful of real inputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.stem != "figures" and not p.stem.startswith("_"))


def load(path: Path):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # as when run as a script: `from _common import ...`
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 16


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_takes_the_common_sizes_and_json(path, tmp_path):
    common = load(BENCH / "_common.py")
    module = load(path)
    assert callable(getattr(module, "parse_args", None)), f"{path.name} has no parse_args(argv)"
    out = tmp_path / "figures.json"
    for flag, size in (("--smoke", "smoke"), ("--quick", "quick")):
        args = module.parse_args([flag, "--json", str(out)])
        assert args.size.value == size and args.json == out
        assert not args.size.is_full
    full = module.parse_args([])
    assert full.size.value == "full" and full.size.is_full and full.json is None
    assert module.parse_args(["--json", str(common.RESULTS / f"{path.stem}.json")]).json is not None
    with pytest.raises(SystemExit):  # one size at a time
        module.parse_args(["--smoke", "--quick"])
    with pytest.raises(SystemExit):  # only a full run writes into benchmarks/results
        module.parse_args(["--smoke", "--json", str(common.RESULTS / f"{path.stem}.json")])


def test_size_pick_and_flat_figures(tmp_path):
    common = load(BENCH / "_common.py")
    sizes = {s.value: s.pick(full=100, quick=10, smoke=2) for s in common.Size}
    assert sizes == {"full": 100, "quick": 10, "smoke": 2}
    path = tmp_path / "a" / "x.json"
    common.write_figures(path, {"quick": True, "n": 3, "x": 0.5, "name": "sla"})
    assert path.read_text().startswith("{\n")
    common.write_figures(None, {"n": 1})  # no --json: nothing written
    with pytest.raises(ValueError, match="flat"):
        common.write_figures(path, {"nested": {"a": 1}})


def test_smoke_runner_lists_every_benchmark():
    smoke = load(BENCH / "_smoke.py")
    assert [p.stem for p in smoke.benchmarks()] == [p.stem for p in SCRIPTS]
