"""Folded batch norms, in-place activations and channels-last kernels: the same numbers and gradients,
never on shared tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from strokelens.attribution.pixel_scores import pixel_scores
from strokelens.errors import StrokelensError
from strokelens.explainers.explainer import model_fingerprint
from strokelens.io.photos import load_photos
from strokelens.models import darknet, load_model
from strokelens.models.tfjs import load_tfjs
from strokelens.units import SuperpixelUnits
from strokelens.views import ImageView
from test_tfjs import node, write_functional


def bn_weights(name: str, c: int, rng) -> list:
    values = (rng.uniform(0.5, 1.5, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c))
    names = ("gamma", "beta", "moving_mean", "moving_variance")
    return [(f"{name}/{n}", np.asarray(v, np.float32)) for n, v in zip(names, values, strict=True)]


@pytest.fixture
def branching(tmp_path):
    """From relu0 (on the input): conv a -> bn -> leaky, conv a also read by an Add; conv b -> bn_b ->
    leaky_b; conv c -> bn_c read by both leaky_c and relu_c. Output: their sum, globally pooled."""
    rng = np.random.default_rng(3)
    conv = dict(filters=2, strides=[1, 1], padding="same", use_bias=True, activation="linear")
    layers = [
        node("in", "InputLayer", [], batch_input_shape=[None, 5, 5, 2]),
        node("relu0", "ReLU", ["in"]),
        node("a", "Conv2D", ["relu0"], kernel_size=[3, 3], **conv),
        node("bn", "BatchNormalization", ["a"]),
        node("leaky", "LeakyReLU", ["bn"], alpha=0.2),
        node("s", "Add", ["leaky", "a"]),
        node("b", "Conv2D", ["relu0"], kernel_size=[1, 1], **conv),
        node("bn_b", "BatchNormalization", ["b"]),
        node("leaky_b", "LeakyReLU", ["bn_b"], alpha=0.2),
        node("c", "Conv2D", ["relu0"], kernel_size=[1, 1], **conv),
        node("bn_c", "BatchNormalization", ["c"]),
        node("leaky_c", "LeakyReLU", ["bn_c"], alpha=0.2),
        node("relu_c", "ReLU", ["bn_c"]),
        node("t", "Add", ["s", "leaky_b", "leaky_c", "relu_c"]),
        node("g", "GlobalAveragePooling2D", ["t"]),
    ]
    weights = [("a/kernel", rng.normal(size=(3, 3, 2, 2)).astype(np.float32)), ("a/bias", rng.normal(size=2))]
    weights += bn_weights("bn", 2, rng)
    weights += [
        ("b/kernel", rng.normal(size=(1, 1, 2, 2)).astype(np.float32)),
        ("b/bias", rng.normal(size=2)),
    ]
    weights += bn_weights("bn_b", 2, rng)
    weights += [
        ("c/kernel", rng.normal(size=(1, 1, 2, 2)).astype(np.float32)),
        ("c/bias", rng.normal(size=2)),
    ]
    weights += bn_weights("bn_c", 2, rng)
    weights = [(n, np.asarray(a, np.float32)) for n, a in weights]
    return write_functional(tmp_path / "f", layers, weights, "g")


def test_folds_and_runs_in_place_only_where_nothing_else_reads(branching):
    fused, plain = load_tfjs(branching), load_tfjs(branching, fuse=False)
    # conv a feeds both its batch norm and the Add: not folded; the batch norm's own output is fresh
    assert isinstance(fused.layers["bn"], nn.BatchNorm2d) and fused.layers["leaky"].inplace
    # conv b feeds only its batch norm: folded (an identity stays under the name), leaky in place
    assert isinstance(fused.layers["bn_b"], nn.Identity) and fused.layers["leaky_b"].inplace
    # bn_c folds, but two activations read its output: neither may overwrite it
    assert isinstance(fused.layers["bn_c"], nn.Identity)
    assert not fused.layers["leaky_c"].inplace and not fused.layers["relu_c"].inplace
    assert not fused.layers["relu0"].inplace  # the model's input is the caller's tensor
    assert isinstance(plain.layers["bn_b"], nn.BatchNorm2d) and not plain.layers["leaky_b"].inplace
    x = torch.randn(4, 2, 5, 5)
    kept = x.clone()
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-5, atol=1e-5)
    assert torch.equal(x, kept)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    grads = [torch.autograd.grad(m(v)[:, 1].sum(), v)[0] for m, v in zip((fused, plain), xs, strict=True)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_fusion_needs_eval_mode_and_keeps_the_published_weights(branching):
    model = load_tfjs(branching, fuse=False).train()
    with pytest.raises(StrokelensError, match="eval mode"):
        model.fuse_for_inference()
    plain = load_tfjs(branching, fuse=False)
    fused = load_tfjs(branching)
    assert set(fused.state_dict()) != set(plain.state_dict())  # bn_b and bn_c folded away
    published, want = fused.published_state_dict(), plain.state_dict()
    assert set(published) == set(want)
    for name, tensor in want.items():
        assert torch.equal(published[name], tensor), name
    assert model_fingerprint(fused) == model_fingerprint(plain)


@pytest.fixture(scope="module")
def darknets():
    fused = darknet.load()
    plain = load_tfjs(darknet.MODEL_DIR / "model.json", drop_final_softmax=True, fuse=False)
    for name in ("class_names", "input_kind", "input_size"):
        setattr(plain, name, getattr(fused, name))
    return fused, plain.to(memory_format=torch.channels_last).eval()


def test_tiny_darknet_same_readings_and_gradients(darknets):
    fused, plain = darknets
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = fused(x), plain(x)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert torch.equal(a.argmax(1), b.argmax(1))
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    grads = [
        torch.autograd.grad(m(v).softmax(-1)[:, 7].sum(), v)[0] for m, v in zip(darknets, xs, strict=True)
    ]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-7)


def test_guided_backprop_on_in_place_activations(darknets, photo_paths):
    """A backward hook cannot watch an in-place activation: guided backprop runs them out of place and
    restores them; its scores equal the unfused model's."""
    fused, _ = darknets
    units = SuperpixelUnits.from_photos(load_photos(photo_paths[:2]), n_segments=12)
    scores = []
    for model in darknets:
        game = ImageView(model).game(units, torch.tensor([7, 300]), "prob")
        scores.append(pixel_scores(game, "guided-backprop"))
    torch.testing.assert_close(scores[0], scores[1], rtol=1e-3, atol=1e-7)
    assert all(m.inplace for m in fused.modules() if isinstance(m, nn.LeakyReLU))


def test_fingerprints_see_the_published_weights_inside_wrappers_and_after_a_cast(branching):
    fused, plain = load_tfjs(branching), load_tfjs(branching, fuse=False)
    assert model_fingerprint(nn.Sequential(fused)) == model_fingerprint(nn.Sequential(plain))
    assert model_fingerprint(fused.double()) == model_fingerprint(plain.double())
    assert model_fingerprint(fused, cached=False) != model_fingerprint(nn.Sequential(fused))  # names count


def test_a_negative_slope_never_runs_in_place():
    from strokelens.models.tfjs.fuse import fuse_graph

    for slope, in_place in ((0.2, True), (-0.2, False)):
        layers = nn.ModuleDict({"c": nn.Conv2d(1, 2, 3), "a": nn.LeakyReLU(slope)}).eval()
        fuse_graph(layers, [("c", ["in"]), ("a", ["c"])], "a")
        assert layers["a"].inplace is in_place


def test_tapped_layers_keep_their_own_values(darknets):
    """A tap on a folded batch norm whose leaky ReLU then runs in place keeps the batch norm's output."""
    from strokelens.explainers.features import run_layers

    fused, plain = darknets
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    keep = ["batch_normalization_3", "leaky_re_lu_3"]
    got, want = run_layers(fused, x, keep), run_layers(plain, x, keep)
    for name in keep:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-4)
    assert (got["batch_normalization_3"] < 0).any()  # not the activation's output


def test_tfjs_models_run_channels_last_with_the_same_numbers(home):
    model = load_model("doodlenet", home=home)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = model(x)
        model.to(memory_format=torch.contiguous_format)
        plain = model(x)
    assert fast.is_contiguous() and torch.allclose(fast, plain, atol=1e-4)
