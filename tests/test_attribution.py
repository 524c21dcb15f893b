"""The attribution engine on real sketches and the real DoodleNet, plus exact checks on games whose
answer is known in closed form."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from strokelens import StrokelensError
from strokelens.attribution.shapley import coalitions, shapley_from_values
from strokelens.datasets import load_spg
from strokelens.games import Game
from strokelens.methods import METHODS, get_method
from strokelens.metrics import agreement, deletion_insertion, part_summary, randomized_model
from strokelens.sketch import SketchBatch
from strokelens.units import SuperpixelUnits, make_units, piece_units
from strokelens.views import RasterSketchView, preprocess
from toy import CountUnits, LinearView, QuadraticView


@pytest.fixture(scope="module")
def view(doodlenet):
    return RasterSketchView(doodlenet)


@pytest.fixture(scope="module")
def sketches(home, doodlenet):
    raw = load_spg("test", classes=["pig", "crab", "apple", "candle"], per_class=4, home=home)
    return preprocess(raw, doodlenet)


@pytest.fixture(scope="module")
def units(sketches):
    return make_units(SketchBatch.from_sketches(sketches), "stroke")


_Units = CountUnits


def test_shapley_of_additive_game_is_its_weights():
    weights = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.2, 0.1, 0.0, 0.0]])
    game = Game(LinearView(weights), _Units([4, 2]), target=0)
    game.evaluations = 0
    expl_scores, _ = get_method("shapley")(None).scores(game)
    assert torch.allclose(expl_scores[0], weights[0], atol=1e-6)
    assert torch.allclose(expl_scores[1, :2], weights[1, :2], atol=1e-6)
    assert game.evaluations == 16 + 4  # 2^4 + 2^2: grouped by unit count


def test_shapley_interaction_split_evenly():
    # v(S) = 1 only when both units are present: each gets 1/2.
    values = coalitions(2, torch.device("cpu")).prod(1)[None]
    assert torch.allclose(shapley_from_values(values, 2), torch.tensor([[0.5, 0.5]], dtype=torch.float64))


def test_shapley_refuses_too_many_units():
    game = Game(LinearView(torch.ones(1, 17)), _Units([17]), target=0)
    with pytest.raises(StrokelensError, match="exceeds the limit of 16"):
        get_method("shapley")(None).scores(game)


def test_piece_units_cut_equal_lengths(sketches):
    batch = SketchBatch.from_sketches(sketches)
    pieces = piece_units(batch, pieces_per_stroke=3)
    strokes = make_units(batch, "stroke")
    assert torch.equal(pieces.n_units, 3 * batch.n_strokes)
    lengths = pieces.unit_lengths()
    per_stroke = strokes.unit_lengths()
    for i in range(len(batch)):
        k = int(batch.n_strokes[i])
        got = lengths[i, : 3 * k].view(k, 3)
        expect = per_stroke[i, :k, None].expand(k, 3) / 3
        assert torch.allclose(got, expect, rtol=1e-3, atol=1e-3)
    # Inserted points are differentiable functions of the originals: (1 - t) a + t b per point.
    pts = batch.points.clone().requires_grad_(True)
    new_points = pieces.points(pts)
    assert torch.allclose(
        new_points[pieces.batch.point_mask], pieces.batch.points[pieces.batch.point_mask], atol=1e-4
    )
    new_points.sum().backward()
    assert pts.grad.sum() == pytest.approx(new_points.numel())


def test_sla_is_the_presence_gradient(doodlenet, sketches):
    # DoodleNet is steep in ink opacity, so compare with a small step in double precision.
    view64 = RasterSketchView(copy.deepcopy(doodlenet).double())
    units = make_units(SketchBatch.from_sketches(sketches[:6], dtype=torch.float64), "stroke")
    expl = get_method("sla")(view64).attribute(units)
    game = view64.game(units, expl.target)
    z = game.full()
    assert z.dtype == torch.float64
    eps = 1e-6
    for k in range(2):
        zk = z.clone()
        zk[:, k] -= eps
        finite = ((game(z) - game(zk)) / eps).detach().float()
        assert torch.allclose(expl.scores[:, k], finite, rtol=1e-3, atol=1e-3)
    assert expl.evaluations == 1


def test_integrated_gradients_completeness():
    weights = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.2, 0.1, 0.7, 0.0]])
    game = Game(QuadraticView(weights), _Units([4, 3]), target=0)
    scores, _ = get_method("ig")(None).scores(game, steps=64)
    total = game(game.full()) - game(torch.zeros_like(game.full()))
    assert torch.allclose(scores.sum(1), total, rtol=1e-3)
    # On a quadratic, IG splits (w.z)^2 as w_k * (w . 1): exact up to the Riemann error.
    assert torch.allclose(scores[0], weights[0] * weights[0].sum(), rtol=1e-3)


def test_integrated_gradients_on_doodlenet_counts_steps(view, units):
    expl = get_method("ig")(view).attribute(units, steps=8)
    assert expl.evaluations == 8 and torch.isfinite(expl.scores).all()


def test_shapley_efficiency_on_doodlenet(view, sketches):
    units = make_units(SketchBatch.from_sketches([s for s in sketches if s.n_strokes <= 8][:5]), "stroke")
    expl = get_method("shapley")(view).attribute(units)
    game = view.game(units, expl.target)
    total = (game(game.full()) - game(torch.zeros_like(game.full()))).detach()
    assert torch.allclose(expl.scores.sum(1), total, atol=1e-3)
    assert expl.evaluations == pytest.approx(float((2.0 ** units.n_units.double()).mean()))


@pytest.mark.parametrize("name", ["lime", "kernelshap", "smoothgrad", "random"])
def test_seeded_methods_repeat(view, sketches, name):
    units = make_units(SketchBatch.from_sketches(sketches[:3]), "stroke")
    method = get_method(name)(view)
    opts = {"n_samples": 100} if name in ("lime", "kernelshap") else {}
    a = method.attribute(units, seed=3, **opts)
    b = method.attribute(units, seed=3, **opts)
    c = method.attribute(units, seed=4, **opts)
    assert torch.equal(a.scores, b.scores)
    assert not torch.equal(a.scores, c.scores)
    assert a.seed == 3


def test_occlusion_is_single_removal(view, units):
    expl = get_method("occlusion")(view).attribute(units)
    game = view.game(units, expl.target)
    z = game.full()
    z[:, 1] = 0
    drop = (game(game.full()) - game(z)).detach()
    assert torch.allclose(expl.scores[:, 1], drop, atol=1e-5)
    assert expl.evaluations == pytest.approx(float((units.n_units + 1).double().mean()))


def test_psla_gives_piece_and_point_scores(view, sketches):
    expl = get_method("psla")(view).attribute(sketches)
    assert expl.units.kind == "piece"
    points = expl.extras["point_scores"]
    assert points.shape == expl.units.original.points.shape[:2]
    assert (points[~expl.units.original.point_mask] == 0).all()
    assert (points.sum(1) > 0).all()


def test_every_method_returns_scores_and_cost(view, sketches):
    units = make_units(SketchBatch.from_sketches([s for s in sketches if s.n_strokes <= 10][:3]), "stroke")
    for name in sorted(METHODS):
        if get_method(name).units_type is SuperpixelUnits:
            with pytest.raises(StrokelensError, match="superpixel"):
                get_method(name)(view).attribute(units)
            continue
        opts = {"n_samples": 50} if name in ("lime", "kernelshap") else {}
        expl = get_method(name)(view).attribute(units, **opts)
        assert expl.scores.shape == (len(units.n_units), units.max_units)
        assert torch.isfinite(expl.scores).all()
        assert (expl.scores[~expl.unit_mask] == 0).all()
        record = expl.records()[0]
        assert record["method"] == name and len(record["scores"]) == int(units.n_units[0])


def test_deletion_and_insertion_curves(view, units):
    expl = get_method("sla")(view).attribute(units)
    curves = deletion_insertion(view.game(units, expl.target), expl.scores)
    game = view.game(units, expl.target, score="prob")
    full, empty = game(game.full()).detach(), game(torch.zeros_like(game.full())).detach()
    for i, k in enumerate(units.n_units.tolist()):
        assert curves.deletion[i, 0] == pytest.approx(float(full[i]), abs=1e-5)
        assert curves.deletion[i, k] == pytest.approx(float(empty[i]), abs=1e-5)
        assert curves.insertion[i, k] == pytest.approx(float(full[i]), abs=1e-5)
    assert ((curves.deletion_auc >= 0) & (curves.deletion_auc <= 1)).all()


def test_gradient_methods_beat_random_on_deletion(home, doodlenet, view):
    sketches = preprocess(load_spg("test", per_class=2, home=home), doodlenet)
    units = make_units(SketchBatch.from_sketches(sketches), "stroke")
    aucs = {}
    for name in ("sla", "random"):
        expl = get_method(name)(view).attribute(units)
        aucs[name] = float(deletion_insertion(view.game(units, expl.target), expl.scores).deletion_auc.mean())
    assert aucs["sla"] < aucs["random"]


def test_agreement_measures():
    ref = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    same = agreement(ref, ref, torch.tensor([4]))
    assert same["spearman"][0] == pytest.approx(1.0) and same["top3"][0] == 1.0
    rev = agreement(-ref, ref, torch.tensor([4]))
    assert rev["spearman"][0] == pytest.approx(-1.0) and rev["top1"][0] == 0.0
    assert math.isnan(agreement(ref, ref, torch.tensor([1]))["spearman"][0])


def test_randomisation_changes_attributions(doodlenet, units):
    scrambled = randomized_model(doodlenet, n_layers=2, seed=0)
    a = get_method("sla")(RasterSketchView(doodlenet)).attribute(units)
    b = get_method("sla")(RasterSketchView(scrambled)).attribute(units, target=a.target)
    corr = agreement(a.scores, b.scores, units.n_units)["spearman"]
    assert np.nanmedian(corr) < 0.9


def test_part_summary_names_parts(view, sketches):
    expl = get_method("sla")(view).attribute(sketches)
    summary = part_summary(expl)
    assert set(summary) == {"pig", "crab", "apple", "candle"}
    names = {s.label: s.part_names for s in sketches}
    assert len({len(n) for n in names.values()}) > 1  # classes of different part counts share the batch
    for label, parts in summary.items():  # each class lists its own parts only, none padded in
        assert set(parts) == set(names[label]), label


def test_unknown_class_and_method(view, units):
    with pytest.raises(StrokelensError, match="unknown class"):
        get_method("sla")(view).attribute(units, target="not a class")
    with pytest.raises(StrokelensError, match="unknown method"):
        get_method("nope")


def test_perturbation_methods_take_one_stroke_sketches(view, sketches):
    one = [sketches[0].subset([0])]
    units = make_units(SketchBatch.from_sketches(one), "stroke")
    exact = get_method("shapley")(view).attribute(units)
    for name in ("kernelshap", "lime"):
        expl = get_method(name)(view).attribute(units, target=exact.target, n_samples=20)
        assert expl.scores[0, 0] == pytest.approx(float(exact.scores[0, 0]), abs=1e-4)
