"""Adversarial stroke attacks: orderings, removal, geometry, transfer and `strokelens attack`."""

from __future__ import annotations

import json

import pytest
import torch

from strokelens.attacks import (
    classify,
    geometry_attack,
    pool_to_strokes,
    removal_attack,
    stroke_scores,
    transfer_fooled,
)
from strokelens.cli import main
from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.games import normalise_class_name
from strokelens.io import read_sketches
from strokelens.views import view_for

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def view(doodlenet):
    return view_for(doodlenet)


@pytest.fixture(scope="module")
def sketches(home, view):
    """SPG test sketches DoodleNet reads right (two a class)."""
    prepared = view.prepare(load_spg("test", per_class=2, home=home))
    names = classify(view, prepared)
    return [
        s
        for s, n in zip(prepared, names, strict=True)
        if normalise_class_name(n) == normalise_class_name(s.label)
    ]


def test_pool_to_strokes_sums_pieces():
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 0.0, 0.0]])
    unit_stroke = torch.tensor([[0, 0, 1, 2], [1, 1, -1, -1]])
    assert pool_to_strokes(scores, unit_stroke, 3).tolist() == [[3.0, 3.0, 4.0], [0.0, 11.0, 0.0]]
    with pytest.raises(StrokelensError, match="differ"):
        pool_to_strokes(scores, unit_stroke[:, :2], 3)


def test_removal_stops_at_the_first_flip(view, sketches):
    units = view.units_for(sketches, "stroke")
    target = view.game(units).full_outputs.argmax(1)
    scores, cost = stroke_scores(view, units, "sla", target)
    assert cost == 1.0
    res = removal_attack(view, units, scores, max_removed=3)
    assert res.success.any()
    game = view.game(units)
    for i in range(len(sketches)):
        k, n = int(res.removed[i]), int(units.n_units[i])
        assert 0 <= k <= min(3, n - 1)
        assert len(res.kept_strokes(i)) == n - k
        for j in range(1, (k or int(res.tried[i])) + 1):
            z = game.full()[i : i + 1].clone()
            z[0, res.order[i, :j]] = 0
            z[0, n:] = 1
            read = int(game.outputs(z, torch.tensor([i])).argmax())
            # Before the success step the model still reads the original class; at it, another.
            assert (read != int(res.original[i])) == (j == k), (i, j, k)
    ink = res.ink_removed[res.success]
    assert ((ink > 0) & (ink < 1)).all()


def test_attribution_orderings_beat_random(view, sketches):
    units = view.units_for(sketches, "stroke")
    target = view.game(units).full_outputs.argmax(1)
    within2 = {}
    for name in ("occlusion", "psla", "random"):
        res = removal_attack(view, units, stroke_scores(view, units, name, target)[0])
        within2[name] = float(res.success_within(2).float().mean())
    assert within2["occlusion"] > within2["random"]
    assert within2["psla"] > within2["random"]


def test_targeted_removal_and_bad_goals(view, sketches):
    units = view.units_for(sketches[:6], "stroke")
    target = view.game(units).full_outputs.argmax(1)
    goal = torch.full((6,), 7)
    scores, _ = stroke_scores(view, units, "occlusion", target, goal)
    res = removal_attack(view, units, scores, goal=goal)
    assert ((res.final == 7) == res.success).all()
    assert res.record(0)["goal"] == view.class_names[7]
    with pytest.raises(StrokelensError, match="one class per sketch"):
        removal_attack(view, units, scores, goal=torch.tensor([1, 2]))
    with pytest.raises(StrokelensError, match="shape"):
        removal_attack(view, units, scores[:, :1])
    with pytest.raises(StrokelensError, match="whole strokes"):
        removal_attack(view, view.units_for(sketches[:2], "piece"), scores[:2])


def test_geometry_attack_moves_only_free_points_within_eps(view, sketches):
    units = view.units_for(sketches, "piece", pieces_per_stroke=3)
    res = geometry_attack(view, units, eps=0.05, selection="psla")
    disp = res.displacement
    assert (disp <= 0.05 + 1e-5).all()
    assert (disp[~res.free] == 0).all()
    assert (res.points_moved <= res.free.sum(1)).all()
    assert (res.points_moved > 0).float().mean() > 0.8  # a piece of only bounding-box points stays put
    for before, after in zip(sketches, res.attacked_sketches(), strict=True):
        assert [len(s) for s in before.strokes] == [len(s) for s in after.strokes]
        assert before.bbox() == pytest.approx(after.bbox(), abs=1e-4)  # the frame is kept
    # What the attack reports is what the model reads in the saved drawing, drawn afresh.
    fresh = view_for(view.model, simplify=False)
    reads = classify(fresh, res.attacked_sketches())
    assert [view.class_names[int(c)] for c in res.final] == reads
    rnd = geometry_attack(view, units, eps=0.05, selection="random")
    assert res.success.float().mean() > rnd.success.float().mean()
    assert geometry_attack(view, units, eps=0.05, selection="all").success.float().mean() >= 0.9


def test_asking_for_more_pieces_than_a_drawing_has_frees_all_of_them(view, sketches):
    """A drawing with fewer pieces than ``n_pieces`` has every piece chosen (piece 0 included: a
    padding pick must not unmark it), so its free points are those of ``selection="all"``."""
    units = view.units_for(sketches[:6], "piece", pieces_per_stroke=3)
    many = int(units.n_units.max()) + 2
    for selection in ("psla", "random"):
        picked = geometry_attack(view, units, eps=0.05, selection=selection, n_pieces=many, steps=1)
        every = geometry_attack(view, units, eps=0.05, selection="all", steps=1)
        assert torch.equal(picked.free, every.free), selection


def test_geometry_attack_refuses_what_it_cannot_do(view, stroke_transformer, sketches):
    units = view.units_for(sketches[:2], "piece")
    with pytest.raises(StrokelensError, match="selection"):
        geometry_attack(view, units, selection="best")
    with pytest.raises(StrokelensError, match="eps"):
        geometry_attack(view, units, eps=0)
    st = view_for(stroke_transformer)
    with pytest.raises(StrokelensError, match="raster"):
        geometry_attack(st, st.units_for(sketches[:2], "stroke"))


def test_transfer_counts_only_what_the_other_model_read_right(view, stroke_transformer, sketches):
    st = view_for(stroke_transformer)
    units = view.units_for(sketches, "stroke")
    target = view.game(units).full_outputs.argmax(1)
    res = removal_attack(view, units, stroke_scores(view, units, "occlusion", target)[0])
    labels = [s.label for s in sketches]
    eligible, fooled = transfer_fooled(st, sketches, res.attacked_sketches(), labels)
    assert eligible.sum() > len(sketches) // 2
    assert not (fooled & ~eligible).any()
    same, never = transfer_fooled(st, sketches, sketches, labels)
    assert torch.equal(same, eligible) and not never.any()


def test_attack_command_writes_drawings_records_and_report(tmp_path, spg_dir, capsys):
    src = spg_dir / "airplane.ndjson.gz"
    for kind in ("removal", "geometry"):
        out = tmp_path / kind
        code = main(["attack", str(src), "--limit", "3", "--attack", kind, "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert len(records) == 3
        attacked = list(read_sketches(out / "attacked.ndjson"))
        assert len(attacked) == 3
        for rec in records:
            assert (out / rec["files"]["png"]).is_file() and (out / rec["files"]["svg"]).is_file()
            assert rec["attack"] == kind and isinstance(rec["fooled"], bool)
        report = (out / "report.html").read_text()
        if kind == "removal":
            assert [a.n_strokes for a in attacked] == [r["n_strokes"] - r["strokes_removed"] for r in records]
            assert all(r["method"] == "fastshap" for r in records) and "ink removed (mean)" in report
        else:
            assert "method" not in records[0] and "points moved (mean)" in report
        assert "fooled (read afresh)" in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "stroke-transformer", "--attack", "geometry"], "raster"),
        (["--goal", "not a class"], "unknown class"),
        (["--method", "sla", "--weights", "x.safetensors"], "learned explainers"),
        (["--attack", "geometry", "--method", "sla"], "--selection"),
    ],
)
def test_attack_command_bad_options(tmp_path, spg_dir, capsys, args, message):
    src = str(spg_dir / "airplane.ndjson.gz")
    code = main(["attack", src, "--limit", "2", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_docs_example_runs(run_doc):
    namespace = run_doc("docs/attacks.md", 1)
    assert namespace["removal"].success.any() and namespace["moved"].success.any()
