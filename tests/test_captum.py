"""Captum both ways (strokelens.interop.captum): strokelens games as Captum's forward_func on real
sketches (DoodleNet, the stroke transformer), superpixel units as Captum's feature_mask + baselines on
real photos (Tiny Darknet), and closed-form checks of strokelens' Captum-backed lime and kernelshap."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation, IntegratedGradients, KernelShap, Lime, NoiseTunnel, Saliency

from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.interop.captum import forward_func, pixel_inputs, presence_inputs, unit_scores
from strokelens.io.photos import load_photos
from strokelens.methods import get_method
from strokelens.models import load_model
from strokelens.sketch import SketchBatch
from strokelens.units import make_units
from strokelens.views import ImageView, preprocess, view_for
from toy import CountUnits, LinearView

PHOTOS = ["n01440764_tench.JPEG", "n02123045_tabby.JPEG"]
CLASSES = ["pig", "crab", "apple"]


@pytest.fixture(scope="module", autouse=True)
def few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=["doodlenet", "stroke-transformer"])
def sketch_view(request, home):
    """A sketch view and stroke units of 3 real SPG test sketches (different stroke counts)."""
    model = load_model(request.param, home=home)
    sketches = preprocess(load_spg("test", classes=CLASSES, per_class=1, home=home), model)
    units = make_units(SketchBatch.from_sketches(sketches), "stroke")
    assert len(set(units.n_units.tolist())) > 1, "want uneven stroke counts (padding)"
    return view_for(model), units


@pytest.fixture(scope="module")
def darknet(home):
    return load_model("darknet-tiny", home=home)


@pytest.fixture(scope="module")
def photo_units(home, darknet):
    paths = [home / "data" / "imagenet-samples" / n for n in PHOTOS]
    if not all(p.exists() for p in paths):
        pytest.skip("sample photos missing")
    view = ImageView(darknet, baseline="mean")
    return view, view.make_units(load_photos(paths), n_segments=12)


# --- a strokelens game as Captum's forward_func ------------------------------------------------


@pytest.mark.parametrize("steps", [4, 16])
def test_ig_equals_captum_riemann_middle(sketch_view, steps):
    view, units = sketch_view
    ours = get_method("ig")(view).attribute(units, target="auto", steps=steps)
    game = view.game(units, "auto")
    p = presence_inputs(game)
    game.evaluations = 0
    theirs = IntegratedGradients(forward_func(game)).attribute(
        p.inputs,
        baselines=p.baselines,
        additional_forward_args=p.additional_forward_args,
        method="riemann_middle",
        n_steps=steps,
    )
    assert game.evaluations == steps * len(units)  # one batched pass: B * steps rows
    theirs = torch.where(game.unit_mask, theirs, 0.0).cpu()
    assert theirs.shape == ours.scores.shape
    scale = float(ours.scores.abs().max())
    assert scale > 1e-3  # a real signal, not zeros on both sides
    assert torch.allclose(theirs, ours.scores, rtol=1e-4, atol=1e-5 * scale), float(
        (theirs - ours.scores).abs().max()
    )


def test_feature_ablation_on_presence_equals_occlusion(sketch_view):
    view, units = sketch_view
    ours = get_method("occlusion")(view).attribute(units, target="auto")
    game = view.game(units, "auto")
    p = presence_inputs(game)
    with torch.no_grad():
        theirs = FeatureAblation(forward_func(game)).attribute(
            p.inputs,
            baselines=0.0,
            additional_forward_args=p.additional_forward_args,
            perturbations_per_eval=game.max_units,
        )
    # padded slots ablate nothing: Captum gives 0 there (up to batch-size float noise), as strokelens does
    assert float(theirs[~game.unit_mask].abs().max()) < 1e-4
    assert float(ours.scores.abs().max()) > 1e-3
    assert torch.allclose(theirs.cpu(), ours.scores, rtol=1e-4, atol=1e-4), float(
        (theirs.cpu() - ours.scores).abs().max()
    )


def test_a_game_refuses_rows_it_cannot_place(sketch_view):
    """What Captum would call without rows: 5 IG steps of one sketch are (5, K) rows for 1 input."""
    view, units = sketch_view
    game = view.game(units.select([0]), "auto")
    k = game.max_units
    z = torch.linspace(0.1, 0.9, 5)[:, None] * torch.ones(5, k)
    with pytest.raises(StrokelensError, match=r"game\.value\(z, rows\)"):
        game(z)
    with pytest.raises(StrokelensError, match="presence z must have shape"):
        IntegratedGradients(forward_func(game)).attribute(torch.ones(1, k), baselines=0.0, n_steps=5)
    rows = torch.zeros(5, dtype=torch.long)
    values = game.value(z, rows)
    assert values.shape == (5,)
    assert torch.allclose(values, torch.stack([game(zi[None])[0] for zi in z]), atol=1e-5)
    assert torch.allclose(forward_func(game)(z, rows), values)


# --- superpixel units as Captum's feature_mask + baselines ---------------------------------------


def test_pixel_inputs_reproduce_the_view(photo_units):
    view, units = photo_units
    px = pixel_inputs(view, units)
    b, s = len(units), units.images.shape[-1]
    assert px.inputs.shape == (b, 3, s, s) and px.baselines.shape == (b, 3, s, s)
    assert px.feature_mask.shape == (b, 1, s, s) and px.feature_mask.dtype == torch.long
    assert int(units.n_units.min()) >= 8 and int(units.n_units.max()) <= 20
    for i in range(b):
        assert torch.equal(px.feature_mask[i].unique(), torch.arange(int(units.n_units[i])))
    assert torch.equal(px.inputs, view.images(units))
    # the baseline is what z = 0 shows
    assert torch.equal(view.images(units, torch.zeros(b, units.max_units)), px.baselines)


def test_feature_ablation_on_pixels_equals_occlusion_on_superpixels(photo_units):
    view, units = photo_units
    ours = get_method("occlusion")(view).attribute(units, target="auto")
    px = pixel_inputs(view, units)
    with torch.no_grad():
        attr = FeatureAblation(view.model).attribute(
            px.inputs,
            baselines=px.baselines,
            feature_mask=px.feature_mask,
            target=ours.target,
            perturbations_per_eval=4,
        )
    assert attr.shape == px.inputs.shape
    theirs = unit_scores(attr, units)
    # one value per superpixel: every pixel and channel of superpixel k holds it
    spread = (attr - theirs.gather(1, px.feature_mask.flatten(1)).view_as(px.feature_mask)).abs()
    assert float(spread.max()) < 1e-5
    assert float(ours.scores.abs().max()) > 0.1
    assert torch.allclose(theirs, ours.scores, atol=1e-4), float((theirs - ours.scores).abs().max())


@pytest.mark.parametrize("cls", [Lime, KernelShap])
def test_lime_and_kernelshap_take_the_superpixel_mask(photo_units, cls):
    view, units = photo_units
    px = pixel_inputs(view, units)
    game = view.game(units, "auto")
    torch.manual_seed(0)
    with torch.no_grad(), pytest.warns(UserWarning, match="one example at a time"):
        attr = cls(view.model).attribute(
            px.inputs,
            baselines=px.baselines,
            feature_mask=px.feature_mask,
            target=game.target,
            n_samples=12,
            perturbations_per_eval=12,
        )
    assert attr.shape == px.inputs.shape
    per_unit = unit_scores(attr, units)
    spread = (attr - per_unit.gather(1, px.feature_mask.flatten(1)).view_as(px.feature_mask)).abs()
    assert float(spread.max()) < 1e-6  # constant within each superpixel, across channels
    assert float(per_unit.abs().max()) > 0


def test_pixel_kernelshap_equals_strokelens_kernelshap(photo_units):
    """Same seed, same superpixels: Captum draws the same coalitions in pixel space (through the
    mask) as strokelens does on presence, and the image view composes the same images."""
    view, units = photo_units
    n, units = 24, units.select([0])  # one photo keeps it quick; the other only repeats the loop
    ours = get_method("kernelshap")(view).attribute(units, target="auto", n_samples=n, seed=3)
    px = pixel_inputs(view, units)
    for i in range(len(units)):
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(3)
            attr = KernelShap(view.model).attribute(
                px.inputs[i : i + 1],
                baselines=px.baselines[i : i + 1],
                feature_mask=px.feature_mask[i : i + 1],
                target=int(ours.target[i]),
                n_samples=n,
                perturbations_per_eval=n,
            )
        theirs = unit_scores(attr, units.select([i]))[0]
        k = int(units.n_units[i])
        diff = float((theirs[:k] - ours.scores[i, :k]).abs().max())
        assert diff < 1e-3 * max(1.0, float(ours.scores[i].abs().max())), diff


# --- closed forms for strokelens lime and kernelshap on additive games ---------------------------

WEIGHTS = torch.tensor([[1.0, -2.0, 0.5, 3.0, -0.25, 0.0], [0.75, -1.5, 2.0, 0.0, 0.0, 0.0]])
N_UNITS = [6, 3]


def additive_game(view=None) -> Game:
    game = Game(view or LinearView(WEIGHTS), CountUnits(N_UNITS), target=0)
    game.evaluations = 0
    return game


def test_kernelshap_recovers_additive_weights_exactly():
    """An additive game is linear in z, so the (unregularised) least squares Kernel SHAP fits
    recovers the weights exactly from any coalitions that span the units, however few."""
    for n in (40, 400):
        scores, _ = get_method("kernelshap")(None).scores(additive_game(), n_samples=n)
        for i, k in enumerate(N_UNITS):
            assert torch.allclose(scores[i, :k], WEIGHTS[i, :k], atol=1e-4), (n, scores[i, :k])


class RecordingView(LinearView):
    """LinearView that keeps every presence row it is asked to score."""

    def __init__(self, weights):
        super().__init__(weights)
        self.seen: list[torch.Tensor] = []

    def outputs(self, z, rows):
        self.seen.append(z.detach().clone())
        return super().outputs(z, rows)


def lime_closed_form(z: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Captum Lime's default fit in closed form: weights ``exp(-d^2 / 2)`` with the cosine distance
    ``d = 1 - cos(1, z) = 1 - sqrt(|z| / K)`` (1 for the empty coalition), then ridge with an
    unpenalised intercept: ``(Zc' W Zc + alpha I)^-1 Zc' W yc``, ``Zc``/``yc`` centred by weighted means."""
    k = z.shape[1]
    d = 1.0 - np.sqrt(z.sum(1) / k)
    w = np.exp(-(d**2) / 2.0)
    zc = z - (w[:, None] * z).sum(0) / w.sum()
    yc = y - (w * y).sum() / w.sum()
    a = zc.T @ (w[:, None] * zc) + alpha * np.eye(k)
    return np.linalg.solve(a, zc.T @ (w * yc))


@pytest.mark.parametrize("alpha", [1.0, 20.0])
def test_lime_is_kernel_weighted_ridge_on_an_additive_game(alpha):
    """strokelens lime equals the closed-form kernel-weighted ridge fit on the very coalitions it
    scored (to 1e-4), and on an additive game that is the weights shrunk by a predictable factor."""
    n = 1000
    view = RecordingView(WEIGHTS)
    game = additive_game(view)
    view.seen.clear()  # the game's own full-presence evaluation
    scores, _ = get_method("lime")(None).scores(game, n_samples=n, alpha=alpha)
    assert len(view.seen) == len(N_UNITS)  # one batched call of n coalitions per input
    for i, k in enumerate(N_UNITS):
        z = view.seen[i][:, :k].double().numpy()
        assert z.shape == (n, k) and set(np.unique(z)) <= {0.0, 1.0}
        y = z @ WEIGHTS[i, :k].double().numpy()
        expected = lime_closed_form(z, y, alpha)
        assert np.allclose(scores[i, :k].numpy(), expected, atol=1e-4), (scores[i, :k], expected)
        # y is exactly linear in z, so without the penalty the fit would return the weights; the ridge
        # penalty shrinks each by about s = alpha / (alpha + n_eff / 4): n_eff is the
        # kernel weights' sum and 1/4 the variance of a fair coin. Asserted: ratio in [1 - 2s, 1 - s/2]
        # (measured with n = 1000: s = 0.0042 -> ratios 0.9947-0.9970; s = 0.078 -> 0.903-0.942).
        n_eff = float(np.exp(-((1 - np.sqrt(z.sum(1) / k)) ** 2) / 2).sum())
        s = alpha / (alpha + n_eff / 4)
        w = WEIGHTS[i, :k].numpy()
        nonzero = w != 0
        ratio = scores[i, :k].numpy()[nonzero] / w[nonzero]
        assert ((ratio >= 1 - 2 * s) & (ratio <= 1 - s / 2)).all(), (ratio, s)
        assert (np.argsort(-scores[i, :k].numpy()) == np.argsort(-w)).all()  # the ranking is kept


def test_helpers_refuse_what_they_cannot_use(photo_units):
    view, units = photo_units
    with pytest.raises(StrokelensError, match="SuperpixelUnits"):
        pixel_inputs(view, CountUnits([3]))
    with pytest.raises(StrokelensError, match="attributions must have shape"):
        unit_scores(torch.zeros(len(units), 3, 8, 8), units)


def test_rows_stay_aligned_however_captum_expands_them():
    """Each input has its own weights, so a row scored as the wrong input shows: IG and FeatureAblation
    (whole-batch repeats) and NoiseTunnel (repeat_interleave of inputs and arguments alike) all give
    every input its own weights on a linear game."""
    game = additive_game()
    f, p = forward_func(game), presence_inputs(game)
    kw = {"additional_forward_args": p.additional_forward_args}
    ig = IntegratedGradients(f).attribute(p.inputs, baselines=p.baselines, n_steps=5, **kw)
    ablation = FeatureAblation(f).attribute(p.inputs, baselines=0.0, perturbations_per_eval=3, **kw)
    torch.manual_seed(0)
    smooth = NoiseTunnel(Saliency(f)).attribute(
        p.inputs, nt_type="smoothgrad", nt_samples=4, stdevs=0.3, abs=False, **kw
    )
    for attr in (ig, ablation, smooth):
        assert torch.allclose(attr, WEIGHTS, atol=1e-5), attr


# ------------------------------------------------------------------------------------ the docs
def test_docs_examples_run(run_doc):
    namespace = run_doc("docs/captum.md", 2)
    assert float((namespace["ig"] - namespace["ours"].scores).abs().max()) < 1e-4
    assert namespace["unit_scores"](namespace["lime"], namespace["units"]).shape[0] == 2
