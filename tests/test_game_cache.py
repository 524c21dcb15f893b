"""Games cache what presence does not change: the same values and gradients with the cache off and on."""

from __future__ import annotations

import pytest
import torch

from strokelens.datasets import load_spg
from strokelens.methods import get_method
from strokelens.sketch import SketchBatch
from strokelens.units import piece_units, stroke_units
from strokelens.views import preprocess, view_for

CLASSES = ["airplane", "alarm clock", "butterfly", "face"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small_sketches(home):
    """Real SPG test sketches with 2..6 strokes (so exact Shapley values stay cheap)."""
    sketches = load_spg("test", classes=CLASSES, per_class=6, home=home)
    return [s for s in sketches if 2 <= s.n_strokes <= 6][:8]


def coalitions(game, count: int, seed: int) -> torch.Tensor:
    """``(B, count, K)`` presence: random soft values, exact zeros and ones."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(game.batch_size, count, game.max_units, generator=g)
    z[z < 0.25] = 0.0
    z[z > 0.85] = 1.0
    return z


def check_same_game(cached, plain, seed: int = 0) -> None:
    """Values for many coalitions and the gradient at a soft point agree; z really matters."""
    z = coalitions(plain, 12, seed)
    with torch.no_grad():
        a, b = cached(z), plain(z)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert (b - b[:, :1]).abs().max() > 1e-2  # different coalitions score differently
    z0 = z[:, 3].clone()
    za, zb = z0.clone().requires_grad_(True), z0.clone().requires_grad_(True)
    ga = torch.autograd.grad(cached(za).sum(), za)[0]
    gb = torch.autograd.grad(plain(zb).sum(), zb)[0]
    assert gb.abs().max() > 1e-3
    torch.testing.assert_close(ga, gb, atol=1e-5, rtol=1e-5)
    assert cached.evaluations == plain.evaluations


@pytest.mark.parametrize("kind", ["stroke", "piece"])
def test_raster_game_cache_equals_rendering_each_coalition(doodlenet, small_sketches, kind):
    batch = SketchBatch.from_sketches(preprocess(small_sketches, doodlenet))
    units = stroke_units(batch) if kind == "stroke" else piece_units(batch, 2)
    view = view_for(doodlenet)
    cached, plain = view.game(units), view.game(units, cache=False)
    assert "coverage" in cached.inputs and "coverage" not in plain.inputs
    assert torch.equal(cached.target, plain.target)
    check_same_game(cached, plain)


def test_raster_game_with_explicit_points_renders_them(doodlenet, small_sketches):
    """P-SLA and inversion pass their own points: the cached game draws those, with point gradients."""
    batch = SketchBatch.from_sketches(preprocess(small_sketches[:4], doodlenet))
    units = piece_units(batch, 2)
    view = view_for(doodlenet)
    cached, plain = view.game(units), view.game(units, cache=False)
    rows = torch.arange(cached.batch_size)
    z = cached.full()
    moved = units.original.points.detach() * 1.05 + 3.0
    pa, pb = moved.clone().requires_grad_(True), moved.clone().requires_grad_(True)
    va, vb = cached.value(z, rows, points=pa), plain.value(z, rows, points=pb)
    torch.testing.assert_close(va, vb, atol=1e-5, rtol=0)
    assert (va - cached.value(z, rows)).abs().max() > 1e-2  # the moved points were drawn, not the cache
    (ga,) = torch.autograd.grad(va.sum(), pa)
    (gb,) = torch.autograd.grad(vb.sum(), pb)
    assert ga.abs().sum() > 0
    torch.testing.assert_close(ga, gb, atol=1e-4, rtol=1e-4)
    expl = get_method("psla")(view).attribute(units)
    assert expl.extras["point_scores"].abs().sum() > 0


def test_vector_game_cache_equals_the_whole_model(stroke_transformer, small_sketches):
    units = stroke_units(SketchBatch.from_sketches(small_sketches))
    view = view_for(stroke_transformer)
    cached, plain = view.game(units), view.game(units, cache=False)
    assert "encoding" in cached.inputs and "encoding" not in plain.inputs
    check_same_game(cached, plain, seed=1)
    # Points of its own (another frame) go through the whole model, not the cached encoding.
    rows = torch.arange(cached.batch_size)
    moved = cached.inputs["points"] * 0.5 + 0.25
    z = cached.full()
    with torch.no_grad():
        own = cached.value(z, rows, points=moved)
        torch.testing.assert_close(own, plain.value(z, rows, points=moved), atol=1e-5, rtol=0)
        assert (own - cached.value(z, rows)).abs().max() > 1e-3


def test_the_view_flag_sets_the_default_and_game_overrides_it(stroke_transformer, doodlenet, small_sketches):
    units = stroke_units(SketchBatch.from_sketches(small_sketches[:2]))
    off = view_for(stroke_transformer, cache=False)
    assert "encoding" not in off.game(units).inputs
    assert "encoding" in off.game(units, cache=True).inputs
    raster_off = view_for(doodlenet, cache=False)
    assert "coverage" not in raster_off.game(units).inputs
    assert "coverage" in view_for(doodlenet).game(units).inputs


@pytest.mark.parametrize("which", ["doodlenet", "stroke_transformer"])
def test_exact_shapley_is_the_same_with_and_without_the_cache(request, small_sketches, which):
    model = request.getfixturevalue(which)
    sketches = preprocess(small_sketches, model)
    on = get_method("shapley")(view_for(model)).attribute(sketches)
    off = get_method("shapley")(view_for(model, cache=False)).attribute(sketches)
    assert (
        on.evaluations
        == off.evaluations
        == pytest.approx(sum(2**s.n_strokes for s in sketches) / len(sketches))
    )
    assert off.scores.abs().max() > 0.1
    torch.testing.assert_close(on.scores, off.scores, atol=1e-4, rtol=0)


def test_images_footprints_and_embedding_games_agree_with_the_cache_off(
    doodlenet, stroke_transformer, small_sketches
):
    from strokelens.views import EmbeddingView

    units = stroke_units(SketchBatch.from_sketches(preprocess(small_sketches[:4], doodlenet)))
    on, off = view_for(doodlenet), view_for(doodlenet, cache=False)
    z = coalitions(on.game(units), 1, seed=2)[:, 0]
    torch.testing.assert_close(on.images(units, z), off.images(units, z), atol=1e-6, rtol=0)
    assert torch.equal(on.footprints(units), off.footprints(units))
    for model in (doodlenet, stroke_transformer):
        cached = EmbeddingView(view_for(model)).game(units)
        plain = EmbeddingView(view_for(model, cache=False)).game(units)
        assert "coverage" in cached.inputs["inner"] or "encoding" in cached.inputs["inner"]
        with torch.no_grad():
            zz = coalitions(plain, 6, seed=3)
            torch.testing.assert_close(cached(zz), plain(zz), atol=1e-5, rtol=0)


def test_vector_game_gives_point_gradients_when_the_bound_points_require_them(
    stroke_transformer, small_sketches
):
    units = stroke_units(SketchBatch.from_sketches(small_sketches[:3]))
    game = view_for(stroke_transformer).game(units)
    points, _ = game.points()
    points.requires_grad_(True)  # the very tensor the encoding was made from
    rows = torch.arange(game.batch_size)
    (grad,) = torch.autograd.grad(game.value(game.full(), rows, points=points).sum(), points)
    assert grad.abs().sum() > 0
