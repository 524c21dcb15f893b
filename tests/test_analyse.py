"""What a stroke carries (shape, order, location) on real SPG sketches: each disturbance changes its
own component only and is seeded per drawing; the component game is the engine's game (exact
Shapley values are efficient and match the ``shapley`` method); a raster model reports order as not
applicable; the command's errors and JSON."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from strokelens.analysis import (
    COMPONENTS,
    ComponentView,
    analyse,
    component_accuracy,
    randomise_locations,
    shuffle_order,
    straighten_shapes,
)
from strokelens.analysis.components import label_target
from strokelens.cli import main
from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.io import write_sketches
from strokelens.methods import get_method
from strokelens.sketch import SketchBatch
from strokelens.views import view_for

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["airplane", "face", "pig", "crab"]


@pytest.fixture(scope="module")
def sketches(home):
    return load_spg("test", classes=CLASSES, per_class=2, home=home)


@pytest.fixture(scope="module")
def st_result(stroke_transformer, sketches):
    return analyse(stroke_transformer, sketches, seeds=(0,))


def stroke_bboxes(sketch):
    return np.array([[*st.min(0), *st.max(0)] for st in sketch.strokes])


def test_shuffle_changes_the_order_not_the_strokes(sketches):
    shuffled = shuffle_order(sketches, seed=3)
    changed = 0
    for s0, s1 in zip(sketches, shuffled, strict=True):
        assert s1.n_strokes == s0.n_strokes and s1.n_points == s0.n_points
        assert s1.bbox() == s0.bbox() and s1.label == s0.label and s1.times is None
        key = lambda st: st.tobytes()  # noqa: E731
        assert sorted(map(key, s1.strokes)) == sorted(map(key, s0.strokes))  # the same set of strokes
        # parts travel with their strokes
        where = {key(st): k for k, st in enumerate(s0.strokes)}
        for st, parts in zip(s1.strokes, s1.parts, strict=True):
            np.testing.assert_array_equal(parts, s0.parts[where[key(st)]])
        changed += any(not np.array_equal(a, b) for a, b in zip(s0.strokes, s1.strokes, strict=True))
    assert changed >= len(sketches) - 2  # 3-10 strokes each: the identity is rare
    again = shuffle_order(sketches, seed=3)
    assert all(np.array_equal(a.points(), b.points()) for a, b in zip(shuffled, again, strict=True))  # seeded
    other = shuffle_order(sketches, seed=4)
    assert any(not np.array_equal(a.points(), b.points()) for a, b in zip(shuffled, other, strict=True))


def test_straightened_strokes_are_two_point_box_diagonals(sketches):
    straight = straighten_shapes(sketches)
    for s0, s1 in zip(sketches, straight, strict=True):
        assert s1.n_strokes == s0.n_strokes and s1.bbox() == pytest.approx(s0.bbox())
        assert all(len(st) == 2 for st in s1.strokes)
        np.testing.assert_allclose(stroke_bboxes(s1), stroke_bboxes(s0))  # the same extent, in place
        for st0, st1 in zip(s0.strokes, s1.strokes, strict=True):
            xs, ys = (st0[:, 0].min(), st0[:, 0].max()), (st0[:, 1].min(), st0[:, 1].max())
            corners = np.array([[x, y] for x in xs for y in ys])
            nearest = np.linalg.norm(corners - st0[0], axis=1).min()
            assert np.linalg.norm(st1[0] - st0[0]) == pytest.approx(nearest)  # starts at the nearest corner
        assert [p.tolist() for p in s1.parts] == [[p[0], p[-1]] for p in s0.parts]


def test_randomised_locations_move_strokes_whole_inside_the_box(sketches):
    moved = randomise_locations(sketches, sigma=0.1, seed=0)
    for s0, s1 in zip(sketches, moved, strict=True):
        lo, hi = np.array(s0.bbox()[:2]), np.array(s0.bbox()[2:])
        eps = 1e-6 * float((hi - lo).max())
        assert s1.n_strokes == s0.n_strokes and s1.n_points == s0.n_points
        for st0, st1 in zip(s0.strokes, s1.strokes, strict=True):
            np.testing.assert_allclose(st1 - st1[0], st0 - st0[0], atol=eps * 10)  # shape kept
            assert (st1 >= lo - eps).all() and (st1 <= hi + eps).all()  # inside the drawing's box
        starts0 = np.array([st[0] for st in s0.strokes])
        starts1 = np.array([st[0] for st in s1.strokes])
        assert not np.allclose(starts0, starts1)
    # Seeded per drawing: the same draws whatever the batch, other draws for another seed.
    part = randomise_locations(sketches[2:5], seed=0, first=2)
    for a, b in zip(part, moved[2:5], strict=True):
        np.testing.assert_allclose(a.points(), b.points())
    other = randomise_locations(sketches, seed=1)
    assert not np.allclose(other[0].points(), moved[0].points())
    with pytest.raises(StrokelensError, match="non-negative"):
        randomise_locations(sketches, seed=-1)


def test_component_game_evaluates_the_disturbed_drawings(stroke_transformer, sketches):
    view = view_for(stroke_transformer)
    cview = ComponentView(view, seed=5)
    units = cview.units_for(cview.prepare(sketches))
    game = cview.game(units)
    normal = units.sketches
    rows = torch.arange(len(sketches))

    def classify(drawings):
        with torch.no_grad():
            return stroke_transformer.classify(SketchBatch.from_sketches(drawings))

    with torch.no_grad():
        intact = game.outputs(torch.ones(len(rows), 3), rows)
        straight = game.outputs(torch.tensor([[0.0, 1, 1]]).repeat(len(rows), 1), rows)
        shuffled = game.outputs(torch.tensor([[1.0, 0, 1]]).repeat(len(rows), 1), rows)
    torch.testing.assert_close(intact, classify(sketches), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(straight, classify(straighten_shapes(normal)), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(shuffled, classify(shuffle_order(normal, seed=5)), atol=1e-4, rtol=1e-4)
    with pytest.raises(StrokelensError, match=r"presence 0 .* or 1"):
        game.outputs(torch.full((len(rows), 3), 0.5), rows)


def test_randomised_locations_are_the_games_location_disturbance(doodlenet, sketches):
    """A raster view's points are the drawing's own: the game moves them exactly as
    `randomise_locations` does, but keeps the intact drawing's frame."""
    cview = ComponentView(view_for(doodlenet), seed=2)
    units = cview.units_for(cview.prepare(sketches[:3]))
    moved = cview.bind(units)["variants"][False, False].moved
    expected = randomise_locations(units.sketches, seed=2)
    for i, s in enumerate(expected):
        np.testing.assert_allclose(moved[i, : s.n_points].numpy(), s.points(), atol=1e-5)


def test_shapley_shares_are_efficient_and_the_engines(stroke_transformer, sketches, st_result):
    r = st_result
    assert r.applicable == COMPONENTS and r.shapley.shape == (len(sketches), 3)
    total = r.shapley.sum(1)
    torch.testing.assert_close(total, r.full_score - r.empty_score, atol=1e-5, rtol=1e-5)
    shares = r.shares()
    torch.testing.assert_close(shares.sum(1), torch.ones(len(sketches), dtype=shares.dtype))
    assert ((shares >= 0) & (shares <= 1)).all()
    # The component view plugs into the engine: the registered exact Shapley method agrees.
    view = ComponentView(view_for(stroke_transformer), seed=0)
    labels = torch.tensor([stroke_transformer.class_names.index(s.label) for s in sketches])
    target = label_target(labels, torch.arange(len(stroke_transformer.class_names)), "log-prob")
    expl = get_method("shapley")(view).attribute(view.prepare(sketches), target=target)
    torch.testing.assert_close(expl.scores.double(), r.shapley, atol=1e-4, rtol=1e-4)
    assert expl.evaluations == 8  # 2^3 coalitions a drawing


def test_accuracy_intact_is_the_models_and_seeds_repeat(stroke_transformer, sketches, st_result):
    with torch.no_grad():
        pred = stroke_transformer.classify(SketchBatch.from_sketches(sketches)).argmax(1)
    assert st_result.correct_intact.tolist() == (pred == st_result.labels).tolist()
    acc = st_result.accuracy()
    assert set(acc) == {"intact", *COMPONENTS} and all(0 <= v <= 1 for v in acc.values())
    again = analyse(stroke_transformer, sketches, seeds=(0,), batch_size=3)  # other batches, same draws
    torch.testing.assert_close(again.shapley, st_result.shapley, atol=1e-4, rtol=1e-4)
    assert component_accuracy(stroke_transformer, sketches, seeds=(0,)) == pytest.approx(acc)


def test_doodlenet_reports_order_as_not_applicable(doodlenet, sketches):
    r = analyse(doodlenet, sketches[:4], classes=CLASSES, seeds=(0, 1))
    assert r.applicable == ("shape", "location")
    assert r.accuracy()["order"] is None and r.drop()["order"] is None
    assert r.mean_share()["order"] is None and torch.isnan(r.shapley[:, 1]).all()
    torch.testing.assert_close(r.shapley[:, [0, 2]].sum(1), r.full_score - r.empty_score)
    record = r.record(0)
    assert record["shapley"]["order"] is None and record["correct_disturbed"]["order"] is None
    assert r.summary()["not_applicable"] == ["order"]
    assert r.evaluations == 2 * (4 + 1)  # two seeds, 2^2 coalitions and the intact prediction


def test_labels_are_required_and_checked(stroke_transformer, sketches):
    unlabelled = [replace(s, label=None) for s in sketches[:2]]
    with pytest.raises(StrokelensError, match="no class label"):
        analyse(stroke_transformer, unlabelled)
    with pytest.raises(StrokelensError, match="not among classes"):
        analyse(stroke_transformer, sketches, classes=["pig", "crab"])
    with pytest.raises(StrokelensError, match="unknown score"):
        analyse(stroke_transformer, sketches, score="margin")


def test_command_writes_the_summary_and_records(spg_dir, tmp_path, capsys):
    out = tmp_path / "analysis.json"
    files = [str(spg_dir / "pig.ndjson.gz"), str(spg_dir / "crab.ndjson.gz")]
    code = main(
        ["analyse", *files, "--model", "doodlenet", "--limit", "2", "--label-classes", "--json", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "n/a for raster models" in printed and "location" in printed
    data = json.loads(out.read_text())
    assert {
        "model",
        "n",
        "accuracy",
        "drop",
        "mean_share",
        "mean_shapley",
        "not_applicable",
        "drawings",
    } <= set(data)
    assert data["model"] == "doodlenet" and data["n"] == 4 and data["not_applicable"] == ["order"]
    assert data["accuracy"]["order"] is None and data["classes"] == ["crab", "pig"]
    assert {"id", "label", "shapley", "share", "correct_disturbed"} <= set(data["drawings"][0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0"], "--seeds"),
        (["--score", "margin"], "--score"),
        (["--model", "darknet-tiny"], "takes photos"),
    ],
)
def test_command_bad_option_exit_2_one_line(spg_dir, capsys, args, message):
    assert main(["analyse", str(spg_dir / "pig.ndjson.gz"), "--limit", "1", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("strokelens: error:") and message in err[0]


def test_command_bad_file_exit_2_one_line(sketches, tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "missing.ndjson")]) == 2
    path = tmp_path / "unlabelled.ndjson"
    write_sketches([replace(s, label=None, parts=None, part_names=None) for s in sketches[:2]], path)
    assert main(["analyse", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no such file" in err[0] and "no class label" in err[1]


def test_docs_example_runs(run_doc):
    namespace = run_doc("docs/analyse.md", 1)
    assert namespace["result"].accuracy()["order"] is not None
