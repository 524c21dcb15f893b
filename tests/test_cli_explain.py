"""`strokelens explain` and `strokelens evaluate` end to end on real SPG sketches and DoodleNet."""

from __future__ import annotations

import json

from strokelens.cli import main
from strokelens.cli.demo import demo_pool
from strokelens.cli.explain import per_second
from strokelens.datasets import load_sample
from strokelens.defaults import default_method
from strokelens.home import ENV_VAR
from strokelens.methods import get_method


def test_explain_writes_records_pictures_and_report(tmp_path, spg_dir, capsys):
    out = tmp_path / "out"
    code = main(
        ["explain", str(spg_dir / "crab.ndjson.gz"), "--limit", "3", "--method", "sla", "--out", str(out)]
    )
    assert code == 0
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for r in records:
        assert {
            "id",
            "source",
            "target",
            "method",
            "units",
            "scores",
            "evaluations",
            "seconds",
            "seed",
        } <= set(r)
        assert r["method"] == "sla" and r["units"] == "stroke" and r["evaluations"] == 1
        assert (out / r["image"]).exists()
    assert (out / "0000.svg").read_text().startswith("<")
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "http" not in html.split("<body>")[1].replace(
        "http://www.w3.org", ""
    )
    assert "report:" in capsys.readouterr().out


def test_explain_pieces_and_named_target(tmp_path, spg_dir):
    out = tmp_path / "out"
    assert (
        main(
            [
                "explain",
                str(spg_dir / "pig.ndjson.gz"),
                "--limit",
                "2",
                "--method",
                "psla",
                "--target",
                "pig",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    record = json.loads((out / "explanations.jsonl").read_text().splitlines()[0])
    assert record["units"] == "piece" and record["target"] == "pig"
    assert len(record["scores"]) == len(record["unit_stroke"])


def test_evaluate_json(tmp_path, spg_dir):
    path = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                str(spg_dir / "apple.ndjson.gz"),
                "--limit",
                "4",
                "--methods",
                "sla,occlusion,random",
                "--json",
                str(path),
            ]
        )
        == 0
    )
    figures = json.loads(path.read_text())
    assert set(figures) == {"sla", "occlusion", "random"}
    for fig in figures.values():
        assert {
            "deletion_auc",
            "insertion_auc",
            "spearman_vs_shapley",
            "ms_per_sketch",
            "evaluations_per_sketch",
        } <= set(fig)
    assert figures["occlusion"]["evaluations_per_sketch"] > figures["sla"]["evaluations_per_sketch"]


def test_explain_bad_inputs_exit_2(tmp_path, spg_dir, capsys):
    assert (
        main(
            [
                "explain",
                str(spg_dir / "pig.ndjson.gz"),
                "--limit",
                "1",
                "--target",
                "not-a-class",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown class" in err[0]
    assert main(["explain", str(tmp_path / "missing.ndjson"), "--out", str(tmp_path)]) == 2
    assert main(["evaluate", str(spg_dir / "pig.ndjson.gz"), "--methods", "sla,nope"]) == 2


def test_demo_explains_real_sketches_with_no_data_folder(tmp_path, monkeypatch, capsys):
    """The demo runs on the shipped models and sample from an empty folder with no STROKELENS_HOME."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n", "3"]) == 0
    report = capsys.readouterr().out.strip().splitlines()[-1]
    assert report == f"report: {(out / 'report.html').resolve()}"
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == {"sla", "psla", "ig", "occlusion", "fastshap", "wys", "shapley"}
    assert len(records) == 7 * 3
    default = default_method("doodlenet", "sketch")
    assert records[0]["method"] == default  # the default method leads, marked in the report
    html = (out / "report.html").read_text()
    assert html.count("<tr>") >= 3 + 5 and "deletion" in html
    assert html.count(f"{default} (default)") == 2  # its cost row and its column
    assert "DoodleNet on 3 sample SPG test sketches" in html


def test_demo_reads_the_full_test_split_of_a_data_folder(home):
    pool, what = demo_pool(3, home)
    assert what == "SPG test sketches" and len(pool) == 20 * 2
    sample = {s.key_id for s in load_sample(per_class=2)}
    assert {s.key_id for s in pool} == sample  # the sample is the head of each class's test split


def test_photo_models_explain_and_evaluate_photos_in_superpixels(tmp_path, home, capsys):
    photos = sorted((home / "data" / "imagenet-samples").glob("*.JPEG"))[:2]
    assert photos
    out = tmp_path / "out"
    args = ["--model", "darknet-tiny", "--segments", "12"]
    assert main(["explain", *map(str, photos), *args, "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    default = default_method("darknet-tiny", "image")
    assert [r["method"] for r in records] == [default, default]  # the photo default, by measurement
    assert all(r["units"] == "superpixel" and (out / r["image"]).exists() for r in records)
    assert (out / "report.html").exists()
    assert main(["explain", *map(str, photos), *args, "--method", "gws", "--out", str(tmp_path / "g")]) == 0
    named = (tmp_path / "g" / "explanations.jsonl").read_text().splitlines()
    assert [json.loads(line)["method"] for line in named] == ["gws", "gws"]  # asked for: exactly gws
    figures = tmp_path / "fig.json"
    code = main(["evaluate", *map(str, photos), *args, "--methods", "gws,random", "--json", str(figures)])
    assert code == 0
    summary = json.loads(figures.read_text())
    assert set(summary) == {"gws", "random"}
    assert 0 <= summary["gws"]["deletion_auc"] <= 1
    assert summary["gws"]["evaluations_per_image"] == get_method("gws").evaluations(12)
    assert "ms / image" in capsys.readouterr().out


def test_job_rates_keep_their_figures():
    """A two-photo job in 5 s reads 0.4 photos/s, not 0."""
    assert [per_second(*a) for a in ((2, 5.0), (37, 3.0), (313, 1.0), (2468, 2.0), (1, 0.0))] == [
        "0.4",
        "12.3",
        "313",
        "1,234",
        "1,000,000,000",
    ]
