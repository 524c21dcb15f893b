"""Seeded methods draw each input's randomness from the input itself (`strokelens.attribution.seeding`):
an input scores the same alone or batched, first or last (a bug hunt found random, smoothgrad and
gws's smoothgrad pixels drawing by batch position and size)."""

from __future__ import annotations

import pytest
import torch

from strokelens.datasets import load_spg
from strokelens.methods import get_method
from strokelens.views import view_for


@pytest.fixture(scope="module")
def sketch_units(doodlenet, home):
    view = view_for(doodlenet)
    sketches = view.prepare(load_spg("test", per_class=1, home=home)[:5])
    return view, view.units_for(sketches)


@pytest.mark.parametrize(("method", "options"), [("random", {}), ("smoothgrad", {"samples": 4})])
def test_a_sketch_scores_the_same_alone_or_batched(sketch_units, method, options):
    view, units = sketch_units
    batched = get_method(method)(view).attribute(units, seed=3, **options).scores
    for i in (0, len(units) - 1):
        alone = get_method(method)(view).attribute(units.select([i]), seed=3, **options).scores
        k = int(units.n_units[i])
        torch.testing.assert_close(alone[0, :k], batched[i, :k], atol=1e-4, rtol=1e-4)
    assert not torch.equal(batched[0, :3], batched[1, :3])  # two sketches, two draws
    other = get_method(method)(view).attribute(units, seed=4, **options).scores
    assert not torch.equal(other, batched)  # the seed still matters


def test_a_photo_scores_the_same_alone_or_batched_with_smoothgrad_pixels(dark, photo_paths):
    from strokelens.io.photos import load_photos

    view = view_for(dark)
    units = view.units_for(load_photos(photo_paths[:2]), n_segments=12)
    options = {"pixel": "smoothgrad", "samples": 2}
    batched = get_method("gws")(view).attribute(units, seed=0, **options).scores
    alone = get_method("gws")(view).attribute(units.select([1]), seed=0, **options).scores
    k = int(units.n_units[1])
    torch.testing.assert_close(alone[0, :k], batched[1, :k], atol=1e-3, rtol=1e-3)
