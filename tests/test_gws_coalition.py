"""``gws`` with ``pixel="coalition"``: the presence gradient averaged over random coalitions of the
kind lime_image samples, against a brute-force average on a tiny model and on real photos; and the
many-evaluation pixel techniques made a chunk of rows at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import pairwise_distances

from strokelens.attribution._gradient import presence_gradient
from strokelens.attribution.coalitions import LIME_KERNEL_WIDTH, draw_coalitions, lime_kernel
from strokelens.errors import StrokelensError
from strokelens.explain import explain
from strokelens.io.photos import file_targets, load_photos
from strokelens.methods import get_method
from strokelens.models import load_model
from strokelens.units import SuperpixelUnits
from strokelens.views import ImageView, view_for

pytestmark = pytest.mark.usefixtures("one_thread")


class Tiny(torch.nn.Module):
    """A small non-linear photo classifier: conv, ReLU, pooled, linear (3 classes)."""

    class_names = ("a", "b", "c")
    input_size = 32

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean((-2, -1)))


@pytest.fixture(scope="module")
def tiny_units(photo_paths):
    return SuperpixelUnits.from_photos(load_photos(photo_paths[:2]), size=32, n_segments=8)


@pytest.mark.parametrize(
    ("sampler", "weighted"),
    [
        ("bernoulli", False),
        ("bernoulli", True),
        ("uniform", False),
        ("stratified", False),
        ("antithetic", True),
    ],
)
def test_coalition_scores_are_the_brute_force_gradient_average(tiny_units, sampler, weighted):
    view = ImageView(Tiny())
    samples = 5
    expl = get_method("gws")(view).attribute(
        tiny_units,
        score="prob",
        seed=3,
        pixel="coalition",
        aggregate="sum",
        samples=samples,
        sampler=sampler,
        weighted=weighted,
        precision="float32",  # the formula's arithmetic (photos' default may be bfloat16)
    )
    assert expl.evaluations == samples == get_method("gws").evaluations(8, pixel="coalition", samples=samples)
    game = view.game(tiny_units, expl.target, "prob")
    z = draw_coalitions(game.n_units, samples, sampler, 3, game.max_units)
    assert z.shape == (2, samples, game.max_units)
    per = [presence_gradient(game, z[:, s]) for s in range(samples)]  # one coalition at a time
    w = lime_kernel(z, game.n_units) if weighted else torch.ones(2, samples)
    want = sum(w[:, s, None] * g for s, g in enumerate(per)) / w.sum(1, keepdim=True)
    want = torch.where(game.unit_mask, want, torch.zeros_like(want))
    torch.testing.assert_close(expl.scores, want, rtol=1e-4, atol=1e-7)


def test_coalition_images_are_composed_a_chunk_at_a_time(tiny_units, monkeypatch):
    """Memory stays that of one chunk of rows, however many photos and coalitions
    (`strokelens.attribution.pixel_scores.summed_gradient`)."""
    view = ImageView(Tiny(), chunk=3)
    seen, compose = [], view.compose

    def counted(z, rows, units, base):
        seen.append(len(rows))
        return compose(z, rows, units, base)

    monkeypatch.setattr(view, "compose", counted)
    expl = get_method("gws")(view).attribute(tiny_units, score="prob", pixel="coalition", samples=7)
    assert expl.evaluations == 7
    assert sum(seen) == 2 + 2 * 7 and max(seen) == 3  # the game's pass of all present, then the coalitions


def test_integrated_gradients_walk_the_path_a_chunk_at_a_time(tiny_units, monkeypatch):
    from strokelens.attribution import pixel_scores

    view = ImageView(Tiny(), chunk=3)
    seen, gradient = [], pixel_scores.input_gradient

    def counted(game, images, rows):
        seen.append(len(rows))
        return gradient(game, images, rows)

    monkeypatch.setattr(pixel_scores, "input_gradient", counted)
    expl = get_method("gws")(view).attribute(tiny_units, score="prob", pixel="ig-mean", steps=5)
    assert expl.evaluations == 5 and sum(seen) == 2 * 5 and max(seen) == 3
    game = view.game(tiny_units, expl.target, "prob")
    x, base = tiny_units.images, pixel_scores.superpixel_means(tiny_units)
    alphas = (torch.arange(5) + 0.5) / 5  # the midpoint rule, every step at once
    path = (base[:, None] + alphas.view(1, 5, 1, 1, 1) * (x - base)[:, None]).flatten(0, 1)
    grads = gradient(game, path, torch.arange(2).repeat_interleave(5)).view(2, 5, *x.shape[1:])
    want = pixel_scores.aggregate(
        ((x - base) * grads.mean(1)).sum(1), tiny_units.labels, game.max_units, "sum"
    )
    torch.testing.assert_close(expl.scores, torch.where(game.unit_mask, want, 0.0), rtol=1e-4, atol=1e-7)


def test_smoothgrad_draws_the_same_noise_whatever_the_chunk(photo_paths):
    """31 x 31 x 3 values a copy (not a multiple of 16, the block CPU draws come in): the same scores
    with the view's chunks of 2 and of 5 rows, as on CPU (4) and CUDA (16)."""

    class Odd(Tiny):
        input_size = 31

    units = SuperpixelUnits.from_photos(load_photos(photo_paths[:2]), size=31, n_segments=8)
    scores = [
        get_method("gws")(ImageView(Odd(), chunk=c))
        .attribute(units, score="prob", pixel="smoothgrad", samples=3, seed=1)
        .scores
        for c in (2, 5)
    ]
    torch.testing.assert_close(scores[0], scores[1], rtol=1e-5, atol=1e-8)


def test_coalitions_are_drawn_as_lime_image_draws_and_weighed_by_its_kernel():
    n_units = torch.tensor([30, 20])
    z = draw_coalitions(n_units, 4000, "bernoulli", 0)
    assert set(z.unique().tolist()) == {0.0, 1.0}
    assert abs(float(z[0].mean()) - 0.5) < 0.01 and (z[1, :, 20:] == 0).all()
    assert torch.equal(draw_coalitions(n_units[1:], 4000, "bernoulli", 0)[0], z[1, :, :20])  # batch-free
    u = draw_coalitions(n_units, 50, "uniform", 0)
    assert float(u[0].min()) > 0 and float(u[0].max()) < 1
    # lime_image: sqrt(exp(-d^2 / 0.25^2)), d the cosine distance to the all-on row
    rows = z[0, :50, :30].numpy()
    d = pairwise_distances(rows, np.ones((1, 30)), metric="cosine").ravel()
    want = np.sqrt(np.exp(-(d**2) / LIME_KERNEL_WIDTH**2))
    got = lime_kernel(z[:1, :50], n_units[:1])[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(lime_kernel(torch.ones(1, 1, 30), n_units[:1])) == pytest.approx(1.0)
    with pytest.raises(StrokelensError, match="sampler"):
        draw_coalitions(n_units, 4, "sobol", 0)
    with pytest.raises(StrokelensError, match="samples >= 1"):
        draw_coalitions(n_units, 0, "bernoulli", 0)


@pytest.mark.parametrize("samples", [1, 4, 7, 16])
def test_stratified_draws_put_one_presence_of_each_unit_in_each_stratum(samples):
    """A Latin hypercube: unit k's ``samples`` presences fall one in each of ``samples`` equal strata,
    in an order of its own; a photo's draws do not depend on its batch."""
    n_units = torch.tensor([40, 25])
    z = draw_coalitions(n_units, samples, "stratified", 5)
    strata = (z[0] * samples).floor().long().sort(0).values  # (samples, K), sorted per unit
    assert torch.equal(strata, torch.arange(samples)[:, None].expand(samples, 40))
    assert (z[1, :, 25:] == 0).all()
    assert torch.equal(draw_coalitions(n_units[1:], samples, "stratified", 5)[0], z[1, :, :25])
    if samples >= 4:  # orders differ between units (a shared order would be one diagonal draw)
        assert len({tuple(c) for c in z[0].argsort(0).T.tolist()}) > 1
    assert not torch.equal(draw_coalitions(n_units, samples, "stratified", 6), z)


@pytest.mark.parametrize("samples", [2, 5, 8])
def test_antithetic_draws_come_with_their_mirrors(samples):
    n_units = torch.tensor([30])
    z = draw_coalitions(n_units, samples, "antithetic", 2)[0]
    half = samples // 2
    torch.testing.assert_close(
        z[:half] + z[(samples + 1) // 2 : (samples + 1) // 2 + half], torch.ones(half, 30)
    )
    assert float(z.min()) > 0 and float(z.max()) < 1


def test_coalition_gws_explains_real_photos_at_its_declared_cost(home, photo_paths, dark):
    """Through the library call behind `strokelens explain`, on real photos and Tiny Darknet."""
    view = view_for(load_model("darknet-tiny", home=home))
    targets = file_targets(photo_paths[:2], view.class_names)
    options = {"pixel": "coalition", "samples": 4}
    run = explain(
        view, photo_paths[:2], "gws", target=targets, unit_options={"n_segments": 12}, options=options
    )
    assert len(run.explanations) == 1 and run.explanations[0].evaluations == 4
    scores = run.explanations[0].scores
    assert torch.isfinite(scores).all() and (scores.abs().sum(1) > 0).all()
    with pytest.raises(StrokelensError, match="sampler"):
        get_method("gws")(ImageView(dark)).attribute(
            SuperpixelUnits.from_photos(load_photos(photo_paths[:1]), n_segments=6), sampler="halton"
        )
