"""Learned explainers for any model and any data: `strokelens train explainer` on a user's model file
and drawing files, exact Shapley labels, the held-out record, ``--weights DIR``, uncertainty and the
occlusion fallback. The model is the public 15-class QuickDraw CNN in tests/data/models (ONNX); the
drawings are real quickdraw-345x25 ones of its classes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from strokelens.cli import main
from strokelens.errors import StrokelensError
from strokelens.explainers import Explainer, TrainConfig, train_explainer
from strokelens.explainers.labels import exact_labels, game_labels
from strokelens.explainers.objectives import label_loss
from strokelens.io import read_sketches
from strokelens.methods import get_method
from strokelens.models.spec import ModelSpec
from strokelens.training.user_data import holdout_split, load_training_data
from strokelens.views import view_for

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = Path(__file__).parent / "data" / "models" / "quickdraw15" / "quickdraw_model_15_classes.onnx"
CLASSES = ("bicycle", "wine glass")


@pytest.fixture(scope="module")
def q15_view():
    return view_for(ModelSpec(str(MODEL)).load())


@pytest.fixture(scope="module")
def drawings(qd345_dir, q15_view):
    sketches = [s for c in CLASSES for s in read_sketches(qd345_dir / f"{c}.ndjson")]
    return [s for s in q15_view.prepare(sketches) if 2 <= s.n_strokes <= 6][:12]


def test_exact_labels_are_the_shapley_values_of_every_class(q15_view, drawings):
    units = q15_view.units_for(drawings[:4], kind="stroke")
    game = q15_view.game(units, "auto")
    labels = game_labels(game)
    with torch.no_grad():
        gap = game.full_outputs - game.outputs(torch.zeros_like(game.full()), torch.arange(4))
    assert torch.allclose(labels.sum(1), gap, atol=1e-3)  # efficiency, for all 15 classes
    exact = get_method("shapley")(q15_view).attribute(units)
    target = labels.gather(2, exact.target[:, None, None].expand(-1, labels.shape[1], 1))[..., 0]
    assert torch.allclose(target, exact.scores, atol=1e-4)
    made = exact_labels(q15_view, drawings[:4], max_units=3)
    small = [d.n_strokes <= 3 for d in drawings[:4]]
    assert [v is not None for v in made.values] == small
    assert made.evaluations == sum(2**d.n_strokes for d in drawings[:4] if d.n_strokes <= 3) + sum(small)


def test_label_loss_is_zero_at_the_labels_and_ensembles_spread(q15_view, drawings):
    explainer = Explainer.create(q15_view, "fastshap", "q15", ensemble=3, d_model=16, n_layers=1, d_ff=16)
    game = q15_view.game(q15_view.units_for(drawings[:4], kind="stroke"), "auto")
    labels = game_labels(game)
    null = explainer.null_scores(game)
    raw = labels[None].expand(3, -1, -1, -1)
    assert float(label_loss(game, raw, null, labels, 5.0)) < 1e-8
    assert float(label_loss(game, raw + 1.0, null, labels, 5.0)) < 1e-8  # efficiency absorbs a shift
    assert float(label_loss(game, raw * 2.0, null, labels, 5.0)) > 1e-3
    scores, doubt = explainer.explain(game)
    assert scores.shape == (4, game.max_units) and doubt.shape == (4,) and (doubt > 0).all()
    single = Explainer.create(q15_view, "fastshap", "q15", d_model=16, n_layers=1, d_ff=16)
    assert (single.explain(game)[1] == 0).all()


def test_fallback_hands_the_least_certain_to_occlusion_and_counts_them(q15_view, drawings, tmp_path):
    explainer = Explainer.create(q15_view, "fastshap", "q15", ensemble=2, d_model=16, n_layers=1, d_ff=16)
    train_explainer(q15_view, explainer, drawings, drawings[:4], TrainConfig(epochs=1, batch_size=8), False)
    explainer.save(tmp_path, "q15")
    method = get_method("fastshap")(q15_view)
    units = q15_view.units_for(drawings[:6], kind="stroke")
    plain = method.attribute(units, weights=str(tmp_path / "q15"))
    half = method.attribute(units, weights=str(tmp_path / "q15"), fallback=0.5)
    occlusion = get_method("occlusion")(q15_view).attribute(units)
    chosen = half.extras["fallback"]
    assert int(chosen.sum()) == 3 and plain.evaluations == 0
    doubt = plain.extras["uncertainty"]
    assert doubt[chosen].min() >= doubt[~chosen].max()
    assert torch.allclose(half.scores[chosen], occlusion.scores[chosen], atol=1e-4)
    assert torch.equal(half.scores[~chosen], plain.scores[~chosen])
    assert half.evaluations == pytest.approx(float(units.n_units[chosen].sum()) / 6)
    assert get_method("fastshap").evaluations(8, fallback=0.5) == 4.0
    with pytest.raises(StrokelensError, match="share"):
        method.attribute(units, weights=str(tmp_path / "q15"), fallback=1.5)


def test_holdout_split_is_seeded_per_class_and_disjoint():
    items = list(range(40))
    keys = [f"k{i}" for i in items]
    classes = ["a" if i < 20 else "b" for i in items]
    train, val, test = holdout_split(items, keys, classes, 0.1, 0.25, seed=0)
    assert sorted(train + val + test) == items
    assert len(test) == 10 and len(val) == 4 and sum(i < 20 for i in test) == 5
    _, val2, test2 = holdout_split(items[::-1], keys[::-1], classes[::-1], 0.1, 0.25, seed=0)
    assert (set(val2), set(test2)) == (set(val), set(test))  # not the order of the files
    assert set(holdout_split(items, keys, classes, 0.1, 0.25, seed=1)[2]) != set(test)


def test_training_data_from_a_folder_and_named_sets(qd345_dir, q15_view, tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(qd345_dir / "bicycle.ndjson", folder / "sub" / "bicycle.ndjson")
    (folder / "notes.txt").write_text("not a drawing")
    splits = load_training_data([str(folder)], q15_view.kind.files, q15_view.class_names, seed=3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (17, 3, 5)
    assert splits.summary()["split"] == {"seed": 3, "val_share": 0.1, "test_share": 0.2}
    with pytest.raises(StrokelensError, match="holds photos"):
        load_training_data(["imagenet-samples"], q15_view.kind.files, q15_view.class_names)


# ----------------------------------------------------------------------------- command line
def test_cli_trains_for_a_model_file_and_explains_with_its_folder(qd345_dir, home, tmp_path, capsys):
    out = tmp_path / "q15"
    data = [arg for c in CLASSES for arg in ("--data", str(qd345_dir / f"{c}.ndjson"))]
    args = ["train", "explainer", "--model", str(MODEL), "--kind", "fastshap", *data, "--out", str(out)]
    fast = ["--epochs", "1", "--ensemble", "2", "--label-units", "6", "--heldout", "8", "--quiet"]
    assert main([*args, *fast]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["weights"] == str(out) and summary["label_evaluations"] > 0
    assert sorted(p.name for p in out.iterdir()) == [
        "explainer.json",
        "explainer.safetensors",
        "model.json",
        "training.json",
    ]
    record = json.loads((out / "training.json").read_text())
    assert record["n_test_inputs"] == 10 and record["split"]["seed"] == 0
    assert record["heldout"]["n_heldout"] == 8 and record["total_wall_seconds"] > 0
    held = record["heldout"]
    assert -1 <= held["explainer_spearman_vs_shapley"] <= 1 and held["occlusion_spearman_vs_shapley"] > 0
    assert held["fallback_50pct_evaluations"] > 0 and 0 < held["length_deletion_auc"] < 1
    assert json.loads((out / "model.json").read_text())["classes"][:2] == ["basket", "apple"]
    drawings = str(qd345_dir / "bicycle.ndjson")
    evaluate = ["evaluate", drawings, "--model", str(MODEL), "--methods", "fastshap", "--limit", "4"]
    result = tmp_path / "fig.json"
    assert main([*evaluate, "--weights", str(out), "--fallback", "0.5", "--json", str(result)]) == 0
    figures = json.loads(result.read_text())["fastshap"]
    assert figures["evaluations_per_sketch"] > 0
    capsys.readouterr()
    other = ["evaluate", drawings, "--model", "doodlenet", "--methods", "fastshap", "--weights", str(out)]
    assert main([*other, "--limit", "2", "--home", str(home)]) == 2
    assert "trained for the model" in capsys.readouterr().err


def test_cli_wys_takes_the_other_classes_mask_weight(home, tmp_path):
    """`--other-mask-weight` reaches the wys objective and its record (the paper's 0.3 by default)."""
    args = ["train", "explainer", "--model", "doodlenet", "--kind", "wys", "--home", str(home)]
    args += ["--limit", "16", "--epochs", "1", "--quiet"]
    for weight, run in (("2.5", "a"), (None, "b")):
        extra = ["--other-mask-weight", weight] if weight else []
        assert main([*args, *extra, "--heldout", "0", "--out", str(tmp_path / run)]) == 0
    records = [json.loads((tmp_path / r / "training.json").read_text()) for r in "ab"]
    assert [r["config"]["wys"]["other_mask"] for r in records] == [2.5, 0.3]
    assert main([*args, "--other-mask-weight", "-1", "--out", str(tmp_path / "c")]) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("empty", "no sketch files in this folder"),
        ("cat.ndjson", "drawings of classes"),
        ("nothing-here", "no such data set, file or folder"),
    ],
)
def test_cli_refuses_data_it_cannot_train_on(qd345_dir, tmp_path, capsys, data, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no drawings")
    shutil.copy(qd345_dir / "cat.ndjson", tmp_path / "cat.ndjson")
    args = ["train", "explainer", "--model", str(MODEL), "--kind", "fastshap", "--out", str(tmp_path / "o")]
    assert main([*args, "--data", str(tmp_path / data)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


def test_cli_photo_explainers_subtract_the_empty_photo_by_default(home, tmp_path, capsys):
    """Photo explainers read the empty photo's class map unless told not to; sketch models refuse it."""
    args = ["train", "explainer", "--model", "darknet-tiny", "--kind", "wys", "--home", str(home)]
    args += ["--limit", "2", "--epochs", "1", "--heldout", "0", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--no-subtract-empty", "--out", str(tmp_path / "b")]) == 0
    configs = [json.loads((tmp_path / run / "explainer.json").read_text())["net_config"] for run in "ab"]
    assert [c["subtract_empty"] for c in configs] == [True, False]
    sketch = ["train", "explainer", "--model", "doodlenet", "--kind", "wys", "--subtract-empty"]
    assert main([*sketch, "--out", str(tmp_path / "c"), "--home", str(home)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--subtract-empty is for photo explainers" in errors[0]
