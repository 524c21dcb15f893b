"""A public TF.js model the project did not ship: GuessTheDoodle's 100-class QuickDraw CNN (MIT,
tests/data/models/guessthedoodle, SOURCE.md there), read through the default raster recipe on real
quickdraw-345x25 drawings of its classes, and a learned explainer trained for it from the CLI that
reads the model's own feature maps and its gradient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from strokelens.cli import main
from strokelens.games import normalise_class_name
from strokelens.io import read_sketches
from strokelens.models.files import read_class_names
from strokelens.models.spec import ModelSpec
from strokelens.views import view_for

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = Path(__file__).parent / "data" / "models" / "guessthedoodle"
FEATURES = "conv2d_1,conv2d_2,conv2d_3:dense_1:dense_2"


@pytest.fixture(scope="module")
def classes() -> list[str]:
    return [normalise_class_name(c) for c in read_class_names(MODEL / "classes.txt", 100)]


def test_reads_its_classes_drawings_at_its_measured_accuracy(qd345_dir, classes):
    model = ModelSpec(str(MODEL)).load()
    view = view_for(model)
    assert model.input_kind == "raster-sketch" and len(model.class_names) == 100
    sketches = [s for c in classes for s in read_sketches(qd345_dir / f"{c}.ndjson")]
    with torch.no_grad():
        logits = view.game(view.units_for(sketches), "auto").full_outputs
    y = torch.tensor([classes.index(s.label) for s in sketches])
    top1 = float((logits.argmax(1) == y).float().mean())
    assert len(sketches) == 2500 and top1 > 0.75, top1  # 0.777 measured (chance 0.01)


def test_cli_trains_a_feature_reading_explainer_for_it(qd345_dir, classes, tmp_path, capsys):
    out = tmp_path / "gtd"
    data = [arg for c in classes[:4] for arg in ("--data", str(qd345_dir / f"{c}.ndjson"))]
    args = ["train", "explainer", "--model", str(MODEL), "--kind", "fastshap", *data, "--out", str(out)]
    fast = ["--epochs", "1", "--permutations", "2", "--label-units", "6", "--heldout", "6", "--quiet"]
    assert main([*args, *fast, "--model-gradient"]) == 2  # the gradient is read beside the features
    assert main([*args, *fast, "--model-features", FEATURES, "--model-gradient"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["label_evaluations"] > 0
    config = json.loads((out / "explainer.json").read_text())["net_config"]
    assert config["feature_layers"] == ["conv2d_1", "conv2d_2", "conv2d_3"] and config["read_gradient"]
    assert (config["embedding_layer"], config["head_layer"]) == ("dense_1", "dense_2")
    record = json.loads((out / "training.json").read_text())
    assert record["explanation_evaluations"] == 1  # the feature pass and its backward
    held = record["heldout"]
    assert held["n_heldout"] == 6 and -1 <= held["explainer_spearman_vs_shapley"] <= 1
    drawings = str(qd345_dir / f"{classes[0]}.ndjson")
    explain = ["explain", drawings, "--model", str(MODEL), "--method", "fastshap", "--weights", str(out)]
    assert main([*explain, "--limit", "2", "--out", str(tmp_path / "expl")]) == 0
    assert (tmp_path / "expl" / "explanations.jsonl").exists()
