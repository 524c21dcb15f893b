"""Explained generation on real SPG data: callable and region targets on a generator's image output,
the shipped completion model, explanations of a generated region and `strokelens train completion`."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from strokelens.cli import main
from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.generation import (
    WHOLE_BBOX,
    CompletionData,
    CompletionView,
    StrokeInks,
    best_threshold,
    completion_iou,
    mean_raster,
    partial_sketches,
    prepare_sketches,
    removal_masks,
    removed_ink_boxes,
)
from strokelens.methods import get_method
from strokelens.metrics import deletion_insertion
from strokelens.models.completion import WEIGHTS_DIR, WEIGHTS_NAME, CompletionNet, load
from strokelens.sketch import SketchBatch
from strokelens.targets import box_mask, embedding_distance, region

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return load()


@pytest.fixture(scope="module")
def view(model):
    return CompletionView(model)


@pytest.fixture(scope="module")
def drawings(home, model):
    """20 test drawings (one a class) with 2..10 strokes left after the seeded removal."""
    whole = prepare_sketches(load_spg("test", per_class=6, home=home), model.config)
    data = CompletionData.make(StrokeInks.build(whole, model.config.renderer()), seed=2)
    kept = torch.tensor([s.n_strokes for s in whole]) - data.removed.sum(1)
    ok = ((kept >= 2) & (kept <= 10)).tolist()
    pick, seen = [], set()
    for i, s in enumerate(whole):
        if ok[i] and s.label not in seen:
            seen.add(s.label)
            pick.append(i)
    idx = torch.tensor(pick)
    sub = CompletionData(data.partial[idx], data.full[idx], data.removed[idx])
    chosen = [whole[i] for i in pick]
    return chosen, partial_sketches(chosen, sub.removed), sub


def missing_mask(data: CompletionData) -> torch.Tensor:
    """``(B, H, W)``: pixels of the removed strokes' ink that the partial drawing does not ink."""
    return ((data.full > 0.5) & (data.partial <= 0.5))[:, 0]


# ----------------------------------------------------------------------------- targets
def test_partial_drawing_is_drawn_in_the_whole_frame(view, drawings):
    whole, parts, data = drawings
    assert all(WHOLE_BBOX in p.meta for p in parts) and not any(WHOLE_BBOX in s.meta for s in whole)
    units = view.units_for(parts)
    assert torch.allclose(view.images(units), data.partial, atol=1e-3)
    # the same frame given explicitly; the partial drawing's own frame is another picture
    game = view.game(units, region(missing_mask(data)), frame=whole)
    assert torch.allclose(game.inputs["frame"], view.game(units, region(missing_mask(data))).inputs["frame"])
    own = view.renderer.frame(units.original)
    assert not torch.allclose(own, game.inputs["frame"])
    with pytest.raises(StrokelensError, match="frame"):
        view.game(units, region(missing_mask(data)), frame=whole[:3])


def test_region_and_callable_targets_have_gradients(view, drawings):
    _, parts, data = drawings
    units = view.units_for(parts)
    mask = missing_mask(data)
    for target in (
        region(mask),
        region(mask[0]),
        region(mask, "sum"),
        lambda out: out[:, 0, 8:24, 8:24].mean((1, 2)),
    ):
        game = view.game(units, target)
        z = game.full().requires_grad_(True)
        value = game(z)
        assert value.shape == (len(parts),) and torch.isfinite(value).all()
        (grad,) = torch.autograd.grad(value.sum(), z)
        assert (grad.abs() * game.unit_mask).sum(1).gt(0).all()
        assert (grad[~game.unit_mask] == 0).all()
    # a per-input mask scores each drawing by its own region
    game = view.game(units, region(mask, "sum"))
    out = game.full_outputs[:, 0]
    assert torch.allclose(game(game.full()), (out * mask).flatten(1).sum(1), atol=1e-5)


def test_wrong_targets_are_errors(view, drawings):
    _, parts, data = drawings
    units = view.units_for(parts)
    game = view.game(units, lambda out: out.mean(1))  # (R, H, W), not (R,)
    with pytest.raises(StrokelensError, match=r"to \(\d+,\) scores"):
        game(game.full())
    scalar = view.game(units, lambda out: 1.0)
    with pytest.raises(StrokelensError, match="got float"):
        scalar(scalar.full())
    with pytest.raises(StrokelensError, match="region mask"):
        view.game(units, region(torch.ones(28, 28)))(game.full())
    with pytest.raises(StrokelensError, match="needs the rows"):
        region(missing_mask(data))(game.full_outputs)
    with pytest.raises(StrokelensError, match="score 'prob'"):
        view.game(units, region(missing_mask(data)), score="prob")
    with pytest.raises(StrokelensError):
        box_mask([1, 2, 3], 32)
    with pytest.raises(StrokelensError, match="unknown"):
        region(torch.ones(4, 4), reduce="max")


def test_embedding_distance_target(view, drawings):
    _, parts, _ = drawings
    units = view.units_for(parts[:4])
    ref = torch.zeros(4, view.model.config.size**2)
    game = view.game(units, embedding_distance(ref))
    expected = game.full_outputs.flatten(1).norm(dim=1)
    assert torch.allclose(game(game.full()), expected, atol=1e-4)
    game = view.game(units, embedding_distance(game.full_outputs[0, 0].flatten(), "cosine"))
    with torch.no_grad():
        assert abs(float(game(game.full())[0])) < 1e-5


def test_box_mask():
    m = box_mask(torch.tensor([[0, 0, 2, 3], [1, 1, 2, 2]]), (4, 5))
    assert m.shape == (2, 4, 5) and m[0].sum() == 6 and m[1].sum() == 1 and bool(m[1, 1, 1])


# ----------------------------------------------------------------------------- the model
def test_shipped_model_loads_without_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    model = load()
    assert isinstance(model, CompletionNet) and not model.training
    record = json.loads((WEIGHTS_DIR / f"{WEIGHTS_NAME}.training.json").read_text())
    assert record["train_split"] == "train" and record["epochs_run"] >= 1 and record["wall_seconds"] > 0
    x = torch.rand(3, 1, model.config.size, model.config.size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(StrokelensError, match="partial ink"):
        model(torch.rand(3, 28, 28))


def test_completion_beats_naive_baselines(home, model):
    config, renderer = model.config, model.config.renderer()
    train = prepare_sketches(load_spg("train", per_class=25, home=home), config)
    val = CompletionData.make(
        StrokeInks.build(prepare_sketches(load_spg("val", per_class=5, home=home), config), renderer), 1
    )
    test = CompletionData.make(
        StrokeInks.build(prepare_sketches(load_spg("test", per_class=5, home=home), config), renderer), 2
    )
    mean = mean_raster(StrokeInks.build(train, renderer))
    thr, _ = best_threshold(mean.expand_as(val.full), val)
    fig = completion_iou(model, test, mean, thr)
    assert fig["n_sketches"] == 100
    assert fig["generation_iou"] > fig["generation_iou_baseline"] + 0.02, fig
    # at the threshold chosen for the removed ink the model over-inks: on the whole drawing it beats the
    # mean raster but not the input as it is (see docs/generation.md)
    assert fig["generation_iou_full"] > fig["generation_iou_full_mean_raster"], fig
    with torch.no_grad():
        assert (model(test.partial) >= test.partial - 1e-6).all()  # the given strokes are kept


def test_removal_masks():
    gen = torch.Generator().manual_seed(0)
    n = torch.tensor([1, 2, 5, 10, 40])
    removed = removal_masks(n, gen)
    counts = removed.sum(1)
    assert counts.tolist()[:2] == [0, 1] and (counts < n).all() and (counts[1:] >= 1).all()
    assert not removed[torch.arange(removed.shape[1])[None] >= n[:, None]].any()
    assert 0.25 * 40 <= int(counts[-1]) <= 0.65 * 40


def test_stroke_inks_match_the_renderer(home, model):
    sketches = prepare_sketches(load_spg("test", per_class=1, home=home)[:6], model.config)
    renderer = model.config.renderer()
    inks = StrokeInks.build(sketches, renderer)
    ref = renderer(SketchBatch.from_sketches(sketches))
    assert torch.allclose(inks.draw(torch.arange(6)), ref, atol=1e-3)


# ----------------------------------------------------------------------------- explanations
@pytest.mark.parametrize("name", ["sla", "ig", "occlusion", "shapley", "random", "length", "smoothgrad"])
def test_methods_explain_a_generated_region(view, drawings, name):
    _, parts, data = drawings
    e = get_method(name)(view).attribute(parts[:6], target=region(missing_mask(data)[:6]))
    k = max(p.n_strokes for p in parts[:6])
    assert e.scores.shape == (6, k) and e.target is None
    assert torch.isfinite(e.scores).all() and (e.scores[~e.unit_mask] == 0).all()


def test_deleting_top_strokes_lowers_the_region_faster_than_random(view, drawings):
    _, parts, data = drawings
    box = removed_ink_boxes(data)
    assert box.shape == (len(parts), 4) and (box[:, 2] > box[:, 0]).all() and (box[:, 3] > box[:, 1]).all()
    size = view.model.config.size
    target = region(box_mask(box, size))
    units = view.units_for(parts)
    game = view.game(units, target)
    aucs = {}
    for name in ("occlusion", "random"):
        e = get_method(name)(view).attribute(units, target=target, seed=0)
        aucs[name] = deletion_insertion(game, e.scores).deletion_auc
    assert float(aucs["occlusion"].mean()) < float(aucs["random"].mean()), aucs
    assert float((aucs["occlusion"] <= aucs["random"]).float().mean()) >= 0.6, aucs


# ----------------------------------------------------------------------------- the command
def test_train_completion_command(home, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "completion", "--out", str(out), "--home", str(home), "--limit", "40", "--epochs", "1"]
    args += ["--size", "16", "--channels", "8,8", "--quiet", "--threads", "1", "--device", "cpu"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs_run"] == 1 and 0 <= summary["generation_iou"] <= 1
    record = json.loads((out / f"{WEIGHTS_NAME}.training.json").read_text())
    assert record["n_train"] == 40 and len(record["train_loss"]) == 1 and record["test"]["split"] == "test"
    model = load(out / f"{WEIGHTS_NAME}.safetensors")
    assert model.config.size == 16 and model.config.channels == (8, 8)


@pytest.mark.parametrize(
    "bad",
    [
        ["--channels", "8,x"],
        ["--size", "18", "--channels", "8,8,8"],
        ["--epochs", "0"],
        ["--max-minutes", "-1"],
    ],
)
def test_train_completion_bad_options(tmp_path, capsys, bad):
    code = main(["train", "completion", "--out", str(tmp_path / "x"), "--quiet", *bad])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("strokelens: error: "), lines
    assert not (tmp_path / "x").exists()


def test_docs_examples_run(run_doc):
    namespace = run_doc("docs/generation.md", 2)
    assert namespace["completed"].shape == (3, 1, 32, 32)
    assert namespace["curves"].quantity == "raw"
    assert namespace["shapley"].scores.shape == namespace["ig"].scores.shape == namespace["sla"].scores.shape
