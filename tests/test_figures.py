"""The generated tables (docs/benchmarks.md's figure table, README.md's headline rows, the defaults and
gws variants tables) are the ones benchmarks/figures.py makes from benchmarks/results/*.json."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "benchmarks" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_tables_match_the_result_files(figures):
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    generated = figures.table(figures.load_results())
    assert figures.with_table(page, generated) == page, "docs/benchmarks.md is stale: run `make figures`"
    assert figures.main(["--check"]) == 0


def test_readme_headline_rows_are_rows_of_the_full_table(figures):
    results = figures.load_results()
    full = figures.table(results, link=True).splitlines()
    headline = figures.headline_table(results).splitlines()
    assert 4 <= len(headline) - 2 <= 10, "a handful of headline figures"
    assert set(headline) <= set(full)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert figures.headline_table(results) in readme


def test_every_page_with_a_table_is_in_the_docs_site(figures):
    site = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for relative, *_ in figures.PAGES:
        in_nav = relative == "README.md" or Path(relative).name in site
        assert in_nav, f"{relative} is not in mkdocs.yml's nav"


#: Benchmarks whose full run has not been done yet, with why; an entry must go once its results land.
NO_FULL_RUN_YET: dict[str, str] = {}


def test_every_benchmark_has_full_run_results(figures):
    scripts = (ROOT / "benchmarks").glob("*.py")
    benchmarks = {p.stem for p in scripts if not p.stem.startswith("_")} - {"figures", "game_cache"}
    results = figures.load_results()  # refuses --quick runs
    assert not set(NO_FULL_RUN_YET) & set(results), "a full run landed: take it off NO_FULL_RUN_YET"
    missing = benchmarks - set(results) - set(NO_FULL_RUN_YET)
    assert not missing, f"no results for {sorted(missing)}"
    assert all(figures.ROWS.get(name) for name in benchmarks), "every benchmark has chosen figures"
    table = figures.table(results)
    assert table.count("\n") + 1 == 2 + sum(len(figures.ROWS.get(n, [None])) for n in results)


def test_check_fails_when_a_file_changes(figures, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(figures.RESULTS, results)
    root = tmp_path / "root"
    for relative, *_ in figures.PAGES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, root / relative)
    args = ["--results", str(results), "--root", str(root)]
    assert figures.main(["--check", *args]) == 0
    path = results / "inversion.json"
    data = json.loads(path.read_text())
    data["n_sketches"] += 1
    path.write_text(json.dumps(data))
    assert figures.main(["--check", *args]) == 1
    assert figures.main(args) == 0  # rewrites it
    assert f"of {data['n_sketches']:,} sketches" in (root / "docs" / "benchmarks.md").read_text()
    assert figures.main(["--check", *args]) == 0


def test_unknown_result_file_gets_a_row_and_quick_runs_are_refused(figures, tmp_path):
    (tmp_path / "new_bench.json").write_text(
        json.dumps({"a_per_s": 12.5, "label": "x", "b": 3, "c": 1, "d": 2})
    )
    table = figures.table(figures.load_results(tmp_path))
    assert "`new_bench`" in table and "`a_per_s` 12.5, `b` 3, `c` 1 (and 1 more)" in table
    (tmp_path / "quick.json").write_text(json.dumps({"quick": True, "x": 1}))
    with pytest.raises(SystemExit, match="quick"):
        figures.load_results(tmp_path)


def test_missing_figure_names_the_file_and_key(figures):
    with pytest.raises(SystemExit, match=r"results/inversion\.json has no figure 'n_sketches'"):
        figures.table(
            {
                "inversion": {
                    "stroke_transformer_recovery_rate_after": 1.0,
                    "doodlenet_tuned_recovery_rate_after": 1,
                }
            }
        )
