"""The precision of ``gws``'s and ``lime-image``'s model calls: names refused or resolved per device,
bfloat16 through autocast scored in float32, and on real photos with Tiny Darknet, bfloat16 ranking
superpixels as float32 does."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from strokelens.attribution import precision as precision_module
from strokelens.attribution.precision import BFLOAT16, FAST, FLOAT32, autocast, resolve_precision
from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.io.photos import load_photos
from strokelens.methods import get_method
from strokelens.metrics import agreement
from strokelens.units import SuperpixelUnits
from strokelens.views import ImageView

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def units(photo_paths):
    return SuperpixelUnits.from_photos(load_photos(photo_paths[:2]), size=224, n_segments=30)


def with_native(monkeypatch, native: bool) -> None:
    """Pretend the CPU does (or does not) compute bfloat16 natively."""
    caps = {**torch.cpu.get_capabilities(), "avx512_bf16": native, "amx_bf16": native}
    monkeypatch.setattr(precision_module.torch.cpu, "get_capabilities", lambda: caps)


def test_fast_is_bfloat16_only_where_the_hardware_computes_it(monkeypatch):
    with_native(monkeypatch, True)
    assert resolve_precision(FAST, CPU) == BFLOAT16
    with_native(monkeypatch, False)
    assert resolve_precision(FAST, CPU) == FLOAT32
    assert resolve_precision(FLOAT32, CPU) == FLOAT32
    with pytest.warns(UserWarning, match="emulated"):  # asked for explicitly: granted, with a warning
        assert resolve_precision(BFLOAT16, CPU) == BFLOAT16


def test_an_unknown_precision_or_a_device_without_autocast_is_refused(monkeypatch):
    with pytest.raises(StrokelensError, match=r"unknown precision 'half'.*float32, bfloat16, fast"):
        resolve_precision("half", CPU)
    with pytest.raises(StrokelensError, match="needs a CPU or CUDA device, not meta"):
        resolve_precision(BFLOAT16, torch.device("meta"))
    assert resolve_precision(FAST, torch.device("meta")) == FLOAT32


def test_outputs_under_autocast_are_scored_in_float32(dark, units):
    view = ImageView(dark)
    game: Game = view.game(units, 0, "prob")
    x = units.images[:1]
    with autocast(BFLOAT16, CPU):
        logits = dark(x)
        scores = game.scores_of(logits, torch.tensor([0]))
    assert logits.dtype == torch.bfloat16
    assert scores.dtype == torch.float32
    assert game.transform(logits).dtype == torch.float32  # lime-image's scores come this way
    with torch.no_grad():
        exact = game.scores_of(dark(x), torch.tensor([0]))
    torch.testing.assert_close(scores.detach(), exact, rtol=0.05, atol=1e-3)  # bfloat16: ~3 digits


def test_bfloat16_coalition_gradients_rank_superpixels_as_float32_does(dark, units):
    """Real photos, real Tiny Darknet: the same 12 stratified coalitions in both precisions; what
    separates them is bfloat16's rounding, far below the coalitions' own sampling noise (another seed
    in float32)."""
    gws = get_method("gws")(ImageView(dark))
    opts = {"pixel": "coalition", "aggregate": "sum", "samples": 12, "sampler": "stratified"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # emulated bfloat16 on a CPU without it
        half = gws.attribute(units, score="prob", precision=BFLOAT16, **opts)
    full = gws.attribute(units, score="prob", precision=FLOAT32, **opts)
    reseeded = gws.attribute(units, score="prob", precision=FLOAT32, seed=1, **opts)
    assert half.extras["precision"] == BFLOAT16 and full.extras["precision"] == FLOAT32
    assert half.scores.dtype == torch.float32 and half.evaluations == full.evaluations == 12
    k = units.n_units
    across = np.median(agreement(half.scores, full.scores, k)["spearman"])
    seeds = np.median(agreement(reseeded.scores, full.scores, k)["spearman"])
    assert across > 0.9 and across > seeds, (across, seeds)
    assert not torch.equal(half.scores, full.scores)  # bfloat16 did run


@pytest.mark.parametrize("native", [True, False])
def test_the_photos_default_precision_is_for_their_default_technique_only(dark, units, monkeypatch, native):
    """The measured precision (``fast``: bfloat16 where native) for the coalitions it was measured
    with; any other technique left to ``auto`` runs in float32; the explanation records what ran."""
    with_native(monkeypatch, native)
    gws, one = get_method("gws")(ImageView(dark)), units.select([0])
    default = gws.attribute(one, score="prob", samples=2)
    assert default.extras["precision"] == resolve_precision(ImageView.gws_default.precision, CPU)
    assert resolve_precision(FAST, CPU) == (BFLOAT16 if native else FLOAT32)
    assert default.extras["pixel"] == ImageView.gws_default.pixel
    assert gws.attribute(one, score="prob", pixel="ig-black", steps=2).extras["precision"] == FLOAT32
    assert gws.attribute(one, pixel="presence", aggregate="sum").extras["precision"] == FLOAT32


def test_pixel_maps_come_back_in_the_photos_dtype(dark, units):
    """Grad-CAM reads activations that autocast left in bfloat16; the map it returns is float32."""
    from strokelens.attribution.pixel_scores import pixel_scores

    game = ImageView(dark).game(units.select([0]), 0, "prob")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cam = pixel_scores(game, "gradcam", precision=BFLOAT16)
    assert cam.dtype == torch.float32 and torch.isfinite(cam).all()


def test_lime_image_in_bfloat16_ranks_superpixels_as_in_float32(dark, units):
    """The same seeded lime_image samples, the model called in either precision: bfloat16's rounding
    moves lime's weights far less than another sampling seed does."""
    lime, one = get_method("lime-image")(ImageView(dark)), units.select([0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # emulated bfloat16 on a CPU without it
        half = lime.attribute(one, score="prob", n_samples=200, precision=BFLOAT16)
    full = lime.attribute(one, score="prob", n_samples=200)
    reseeded = lime.attribute(one, score="prob", n_samples=200, seed=1)
    assert half.extras["precision"] == BFLOAT16 and full.extras["precision"] == FLOAT32
    assert half.evaluations == full.evaluations == 200
    k = one.n_units
    across = float(agreement(half.scores, full.scores, k)["spearman"][0])
    seeds = float(agreement(reseeded.scores, full.scores, k)["spearman"][0])
    assert across > 0.9 and across > seeds, (across, seeds)
    assert not torch.equal(half.scores, full.scores)  # bfloat16 did run
    with pytest.raises(StrokelensError, match="unknown precision 'half'"):
        lime.attribute(one, score="prob", n_samples=20, precision="half")
