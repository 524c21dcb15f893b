"""Dataset jobs (`strokelens.jobs`, ``strokelens explain/evaluate --out``): Parquet shards with a
manifest, resume after kill -9, skipped rows with reasons, refusals, and the Ray backend's rows."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from strokelens.cli import main
from strokelens.errors import StrokelensError
from strokelens.jobs import JobFolder, JobSpec, rows_equal, run_job
from strokelens.jobs.plan import Segment, plan_shards

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(spg_dir) -> list[Path]:
    return [spg_dir / "pig.ndjson.gz", spg_dir / "cactus.ndjson.gz"]


@pytest.fixture(scope="module")
def view(doodlenet):
    from strokelens.views import view_for

    return view_for(doodlenet)


def sla_spec(**kw) -> JobSpec:
    args = {"limit": 20, "shard_size": 16, "batch_size": 8, **kw}
    return JobSpec("explain", "sketch", {"name": "doodlenet"}, ("sla",), **args)


def test_plan_packs_files_into_shards_and_splits_long_ones():
    segs = [Segment("a", 0, 5), Segment("b", 0, 12), Segment("c", 0, 1)]
    shards = plan_shards(segs, 8)
    assert [s.rows for s in shards] == [8, 8, 2]
    assert shards[0].segments == (Segment("a", 0, 5), Segment("b", 0, 3))
    assert shards[1].segments == (Segment("b", 3, 8),)
    assert shards[2].segments == (Segment("b", 11, 1), Segment("c", 0, 1))


def test_spec_asks_its_command_what_it_takes_and_writes():
    evaluate = JobSpec("evaluate", "sketch", {"name": "doodlenet"}, ("sla", "occlusion"))
    assert evaluate.rows_per_input == 2 and sla_spec().rows_per_input == 1
    from strokelens.evaluation import figure_names

    figure = figure_names("sketch")[0]
    explain_columns = sla_spec().job_command.schema("sketch").names
    evaluate_columns = evaluate.job_command.schema("sketch").names
    assert "scores" in explain_columns and figure not in explain_columns
    assert figure in evaluate_columns and "scores" not in evaluate_columns
    with pytest.raises(StrokelensError, match="an explain job runs one method, got 2"):
        JobSpec("explain", "sketch", {"name": "doodlenet"}, ("sla", "occlusion"))
    with pytest.raises(StrokelensError, match="job command must be one of explain, evaluate, got 'train'"):
        JobSpec("train", "sketch", {"name": "doodlenet"}, ("sla",))
    command = evaluate.job_command
    assert pickle.loads(pickle.dumps(command)) is command  # specs and commands travel to Ray workers


def test_explain_job_rows_match_the_method_run_directly(tmp_path, files, view):
    from strokelens.explain import explain
    from strokelens.io import read_sketches

    result = run_job(sla_spec(), files, tmp_path / "job", lambda: view)
    rows = result.folder.read_rows().to_pylist()
    assert len(rows) == 40 and result.summary["ok"] == 40 and result.summary["skipped"] == 0
    assert result.computed_inputs == result.computed_rows == 40
    assert [(Path(r["source"]).name, r["index"]) for r in rows[:2]] == [
        ("pig.ndjson.gz", 0),
        ("pig.ndjson.gz", 1),
    ]
    assert rows[20]["source"] == str(files[1]) and rows[20]["index"] == 0
    assert len(list((tmp_path / "job" / "shards").glob("*.parquet"))) == 3  # 16 + 16 + 8
    sketches = view.prepare([s for f in files for s in read_sketches(f, limit=20)])
    direct = explain(view, sketches, "sla", batch_size=8, curves=False)
    for n, (row, (expl, i)) in enumerate(zip(rows, direct.items(), strict=True)):
        assert row["id"] == sketches[n].key_id and row["label"] == sketches[n].label
        assert row["target_name"] == expl.target_names[i] and row["n_units"] == int(expl.units.n_units[i])
        assert np.allclose(row["scores"], expl.unit_scores(i), rtol=1e-4, atol=1e-4)
    manifest = json.loads((tmp_path / "job" / "manifest.json").read_text())
    assert manifest["finished"] and manifest["done"] == [0, 1, 2] and manifest["rows"] == 40


def test_finished_job_is_not_overwritten_and_resume_checks_the_options(tmp_path, files, view):
    out = tmp_path / "job"
    run_job(sla_spec(), files, out, lambda: view)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    with pytest.raises(StrokelensError, match="holds a finished explain job; pass --resume"):
        run_job(sla_spec(), files, out, lambda: view)
    again = run_job(sla_spec(), files, out, lambda: view, resume=True)
    assert again.already_finished and again.computed_rows == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    with pytest.raises(StrokelensError, match=r"different options .*seed: 0 != 1"):
        run_job(sla_spec(seed=1), files, out, lambda: view, resume=True)
    with pytest.raises(StrokelensError, match="different input files"):
        run_job(sla_spec(), files[:1], out, lambda: view, resume=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StrokelensError, match="not empty and holds no strokelens job"):
        run_job(sla_spec(), files, tmp_path / "other", lambda: view)


def test_resume_redoes_only_missing_shards(tmp_path, files, view):
    out = tmp_path / "job"
    run_job(sla_spec(), files, out, lambda: view)
    shutil.copytree(out, tmp_path / "whole")
    kept = out / "shards" / "shard-00000.parquet"
    stamp = kept.stat().st_mtime_ns
    (out / "shards" / "shard-00001.parquet").unlink()  # as if killed before it was renamed
    (out / "shards" / ".shard-00002.parquet.123.tmp").write_bytes(b"half a file")
    result = run_job(sla_spec(), files, out, lambda: view, resume=True)
    assert result.computed_rows == 16 and kept.stat().st_mtime_ns == stamp
    assert not list((out / "shards").glob(".*.tmp"))
    assert rows_equal(out, tmp_path / "whole")


def test_bad_records_are_skipped_with_their_reasons(tmp_path, spg_dir, qd345_dir, view):
    good = (qd345_dir / "cat.ndjson").read_text().splitlines()[:3]
    many = json.loads(good[0])
    many["drawing"] = [many["drawing"][0]] * 20  # 20 strokes: too many units for exact Shapley
    bad = tmp_path / "cats.ndjson"
    bad.write_text("\n".join([good[0], "{not json", json.dumps(many), '{"x": 1}', good[1]]) + "\n")
    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    spec = JobSpec("explain", "sketch", {"name": "doodlenet"}, ("shapley",), shard_size=4)
    result = run_job(spec, [bad, empty], tmp_path / "job", lambda: view)
    rows = result.folder.read_rows().to_pylist()
    assert [(r["index"], r["status"]) for r in rows] == [
        (0, "ok"),
        (1, "skipped"),
        (2, "skipped"),
        (3, "skipped"),
        (4, "ok"),
        (None, "skipped"),
    ]
    assert "line 2: not JSON" in rows[1]["reason"]
    assert "20 units exceed shapley's limit of 16" in rows[2]["reason"]
    assert "no 'drawing' field" in rows[3]["reason"]
    assert "empty file" in rows[5]["reason"]
    assert result.summary["ok"] == 2 and result.summary["skipped"] == 4
    assert len(rows[0]["scores"]) == rows[0]["n_units"]


def test_unknown_target_is_an_error_not_a_job_of_skipped_rows(tmp_path, files, view):
    with pytest.raises(StrokelensError, match="unknown class 'nope'"):
        run_job(sla_spec(target="nope"), files, tmp_path / "job", lambda: view)


def test_evaluate_job_summary_matches_in_memory_evaluate(tmp_path, files, view):
    from strokelens.evaluation import evaluate
    from strokelens.io import read_sketches

    methods = ("sla", "occlusion", "shapley")
    spec = JobSpec(
        "evaluate", "sketch", {"name": "doodlenet"}, methods, units="stroke", limit=6, batch_size=12
    )
    result = run_job(spec, files, tmp_path / "job", lambda: view)
    rows = result.folder.read_rows()
    assert rows.num_rows == 12 * 3 and set(rows.column("method").to_pylist()) == set(methods)
    assert result.computed_rows == 36 and result.computed_inputs == 12  # three rows a drawing
    sketches = view.prepare([s for f in files for s in read_sketches(f, limit=6)])
    reports = evaluate(view, sketches, methods, batch_size=12, unit_options={"kind": "stroke"})
    for m in methods:
        mine, theirs = result.summary["figures"][m], reports[m].summary()
        for key in ("deletion_auc", "insertion_auc", "spearman_vs_shapley", "evaluations_per_sketch"):
            assert mine[key] == pytest.approx(theirs[key], abs=1e-6), (m, key)


def test_cli_explain_job_draws_only_the_first_pictures(tmp_path, files, home, capsys):
    out = tmp_path / "cli"
    args = [
        "explain",
        *map(str, files),
        "--limit",
        "10",
        "--pictures",
        "3",
        "--out",
        str(out),
        "--home",
        str(home),
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("20 drawings done" in ln for ln in lines) and any("3 drawings drawn" in ln for ln in lines)
    assert len(list(out.glob("*.png"))) == 3 and len(list(out.glob("*.svg"))) == 3
    assert len((out / "explanations.jsonl").read_text().splitlines()) == 3
    assert pq.read_metadata(out / "shards" / "shard-00000.parquet").num_rows == 20
    assert json.loads((out / "summary.json").read_text())["ok"] == 20
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a finished explain job" in err[0]
    assert main([*args, "--resume"]) == 0
    assert "nothing left to do" in capsys.readouterr().out


def _job_command(files, out: Path, home: Path) -> list[str]:
    code = "import sys; from strokelens.cli import main; sys.exit(main())"
    return [
        sys.executable,
        "-c",
        code,
        "explain",
        *map(str, files),
        "--limit",
        "40",
        "--shard-size",
        "8",
        "--batch-size",
        "8",
        "--pictures",
        "0",
        "--resume",
        "--out",
        str(out),
        "--home",
        str(home),
    ]


def test_kill_9_then_resume_loses_and_repeats_no_row(tmp_path, files, home):
    reference = tmp_path / "whole"
    assert subprocess.run(_job_command(files, reference, home), capture_output=True).returncode == 0
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        _job_command(files, out, home), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list((out / "shards").glob("shard-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    shards = list((out / "shards").glob("shard-*.parquet"))
    assert 0 < len(shards) < 10, "the kill should land mid-job"
    assert subprocess.run(_job_command(files, out, home), env=env, capture_output=True).returncode == 0
    rows = JobFolder(out).read_rows()
    keys = list(zip(rows.column("source").to_pylist(), rows.column("index").to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 80
    assert rows_equal(out, reference)


@pytest.mark.slow
def test_ray_backend_writes_the_same_rows(tmp_path, files, home):
    ray = pytest.importorskip("ray")
    from strokelens.models.spec import ModelSpec
    from strokelens.views.loader import ViewLoader

    loader = ViewLoader(ModelSpec("doodlenet"), home, "cpu")
    try:
        local = run_job(sla_spec(), files, tmp_path / "local", loader)
        on_ray = run_job(sla_spec(), files, tmp_path / "ray", loader, backend="ray", workers=2)
    finally:
        ray.shutdown()
    assert on_ray.computed_rows == local.computed_rows == 40
    assert rows_equal(tmp_path / "local", tmp_path / "ray")
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["finished"] and manifest["done"] == [0, 1, 2]


def test_photo_job_skips_an_unreadable_photo(tmp_path, photo_paths, dark):
    from strokelens.views import view_for

    broken = tmp_path / "n01440764_tench.JPEG"
    broken.write_bytes(b"not a jpeg")
    spec = JobSpec(
        "explain",
        "image",
        {"name": "darknet-tiny"},
        ("gws",),
        unit_options={"n_segments": 20},
        batch_size=2,
        target="file",
    )
    result = run_job(spec, [photo_paths[0], broken, photo_paths[1]], tmp_path / "job", lambda: view_for(dark))
    rows = result.folder.read_rows().to_pylist()
    assert [r["status"] for r in rows] == ["ok", "skipped", "ok"]
    assert str(broken) in rows[1]["reason"] or "cannot" in rows[1]["reason"].lower()
    assert rows[0]["units"] == "superpixel" and len(rows[0]["scores"]) == rows[0]["n_units"] > 5
    assert rows[0]["target_name"] == "tench"


def test_docs_example_runs(run_doc):
    namespace = run_doc("docs/jobs.md", 1)
    assert (
        namespace["ok"].num_rows == 40 and len(namespace["first"]["scores"]) == namespace["first"]["n_units"]
    )
