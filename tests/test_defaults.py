"""Default methods chosen by measurement: the packaged choice is the rule applied to the committed
benchmark results, explain/demo/serve use it, and a method asked for by name is that method."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from strokelens import defaults
from strokelens.cli import main
from strokelens.models import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    return defaults.load_results(RESULTS)


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]


def test_packaged_defaults_are_the_rule_applied_to_the_committed_results(results):
    """Stale defaults fail here: rerun a benchmark, then `python -m strokelens.defaults --write`."""
    assert defaults.choose(results) == defaults.packaged()
    assert defaults.main(["--check", "--results", str(RESULTS)]) == 0


def test_each_default_is_eligible_and_its_figures_are_the_results(results):
    data = defaults.packaged()
    assert set(data["models"]) == set(REGISTRY)  # every shipped model has a measured default
    for model, entry in data["models"].items():
        method = entry["method"]
        assert method not in (*defaults.BASELINES, *defaults.REFERENCES)
        if entry["learned"]:
            assert defaults.weights_ship(model, method)
        else:
            assert entry["evaluations"] <= defaults.BUDGET
        source = results[Path(entry["source"]).stem]
        assert entry["spearman_vs_shapley"] == source[entry["keys"]["spearman_vs_shapley"]]
        assert entry["deletion_auc"] == source[entry["keys"]["deletion_auc"]]
        eligible = [r for r in entry["measured"] if r["eligible"]]
        best = max(r["spearman_vs_shapley"] for r in eligible)
        assert entry["spearman_vs_shapley"] >= best - defaults.NEAR_TIE
    for fallback in data["fallback"].values():  # user models: no shipped weights
        assert fallback["method"] not in defaults.LEARNED and fallback["evaluations"] <= defaults.BUDGET


def test_the_rule_on_made_up_figures(results):
    """Near-ties go to the lower deletion AUC; cost is the most any file records; baselines never win."""
    r = copy.deepcopy(results)
    ex = r["explainer"]
    ex.update(ig_spearman_vs_shapley=0.99, ig_deletion_auc=0.05, length_spearman_vs_shapley=1.0)
    assert defaults.choose(r)["models"]["doodlenet"]["method"] == "ig"
    ex.update(occlusion_spearman_vs_shapley=1.0, occlusion_deletion_auc=0.06)  # 0.99 is within 0.02
    assert defaults.choose(r)["models"]["doodlenet"]["method"] == "ig"
    ex["occlusion_deletion_auc"] = 0.04
    assert defaults.choose(r)["models"]["doodlenet"]["method"] == "occlusion"
    r["faithfulness"]["occlusion_evaluations_per_sketch"] = 17.0  # over budget in another file
    assert defaults.choose(r)["models"]["doodlenet"]["method"] == "ig"
    # photos: occlusion costs ~33 evaluations at explain's 50 superpixels, so it is not the default
    photo = {row["method"]: row for row in defaults.choose(results)["models"]["darknet-tiny"]["measured"]}
    assert photo["occlusion"]["evaluations"] > defaults.BUDGET and not photo["occlusion"]["eligible"]


def test_default_method_for_shipped_user_and_piece_units():
    data = defaults.packaged()
    for model, entry in data["models"].items():
        assert defaults.default_method(model, entry["input_kind"]) == entry["method"]
    for kind in ("sketch", "image"):
        assert defaults.default_method(None, kind) == data["fallback"][kind]["method"]
        assert defaults.default_method("my-model.pt", kind) == data["fallback"][kind]["method"]
    # a learned default applies to the units its weights were trained on only
    st = data["models"]["stroke-transformer"]
    if st["learned"]:
        assert (
            defaults.default_method("stroke-transformer", "sketch", "piece")
            == data["fallback"]["sketch"]["method"]
        )
    text = defaults.help_text()
    assert all(f"{e['method']} ({model})" in text for model, e in data["models"].items())


def test_markdown_table_marks_each_default(results):
    data = defaults.choose(results)
    table = defaults.markdown_table(data)
    lines = table.splitlines()
    assert len(lines) == 2 + sum(len(e["measured"]) for e in data["models"].values()) + len(data["fallback"])
    for entry in data["models"].values():
        assert sum(f"**`{entry['method']}`**" in ln and "**default**" in ln for ln in lines) >= 1
    assert table.count("**default**") == len(data["models"]) + len(data["fallback"])


def test_explain_without_method_uses_the_default_and_a_named_method_is_that_method(spg_dir, tmp_path):
    files = [str(spg_dir / "crab.ndjson.gz"), "--limit", "2"]
    assert main(["explain", *files, "--out", str(tmp_path / "d")]) == 0
    assert {r["method"] for r in records(tmp_path / "d")} == {defaults.default_method("doodlenet", "sketch")}
    assert main(["explain", *files, "--method", "sla", "--out", str(tmp_path / "s")]) == 0
    assert {r["method"] for r in records(tmp_path / "s")} == {"sla"}
    st = ["--model", "stroke-transformer"]
    assert main(["explain", *files, *st, "--out", str(tmp_path / "t")]) == 0
    assert {r["method"] for r in records(tmp_path / "t")} == {
        defaults.default_method("stroke-transformer", "sketch")
    }


def test_a_user_model_gets_a_default_that_needs_no_weights(spg_dir, home, tmp_path):
    folder = home / "models" / "doodlenet"  # the shipped DoodleNet as --model PATH: no shipped explainer
    files = [str(spg_dir / "crab.ndjson.gz"), "--limit", "2", "--home", str(home)]
    own = ["--model", str(folder), "--classes", str(folder / "class_names.txt")]
    assert main(["explain", *files, *own, "--out", str(tmp_path / "u")]) == 0
    methods = {r["method"] for r in records(tmp_path / "u")}
    assert methods == {defaults.default_method(None, "sketch")} and not methods & set(defaults.LEARNED)


def test_docs_name_the_packaged_defaults():
    text = (ROOT / "docs" / "defaults.md").read_text(encoding="utf-8")
    data = defaults.packaged()
    for model, entry in data["models"].items():
        assert f"| `{model}` | `{entry['method']}` |" in text
    for kind, what in (("sketch", "sketch"), ("image", "photo")):
        assert f"| your own {what} model" in text and f"`{data['fallback'][kind]['method']}` |" in text
