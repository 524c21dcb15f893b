"""The TF.js layers loader: exact Keras semantics on small synthetic models, clear errors on bad files."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from strokelens.errors import StrokelensError
from strokelens.models.tfjs import LAYER_BUILDERS, _same_pads, load_tfjs, read_weights
from strokelens.models.tfjs import layers as tfjs_layers

# ------------------------------------------------------------------------- synthetic models


def write_model(folder: Path, layers: list[dict], weights: list[tuple[str, np.ndarray]], **extra) -> Path:
    """Write a Sequential TF.js layers model with one shard holding ``weights`` in order."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = [
        {
            "paths": ["shard.bin"],
            "weights": [{"name": n, "shape": list(a.shape), "dtype": "float32"} for n, a in weights],
        }
    ]
    topology = {"model_config": {"class_name": "Sequential", "config": {"name": "m", "layers": layers}}}
    spec = {"format": "layers-model", "modelTopology": topology, "weightsManifest": manifest, **extra}
    (folder / "model.json").write_text(json.dumps(spec))
    data = b"".join(np.asarray(a, dtype="<f4").tobytes() for _, a in weights)
    (folder / "shard.bin").write_bytes(data)
    return folder / "model.json"


def layer(kind: str, name: str, **cfg) -> dict:
    return {"class_name": kind, "config": {"name": name, **cfg}}


def node(name: str, kind: str, inputs: list[str], **cfg) -> dict:
    """A functional model's layer ``name`` reading ``inputs``."""
    refs = [[[i, 0, 0, {}] for i in inputs]] if inputs else []
    return {"name": name, "class_name": kind, "config": {"name": name, **cfg}, "inbound_nodes": refs}


def write_functional(
    folder: Path, layers: list[dict], weights: list[tuple[str, np.ndarray]], output: str
) -> Path:
    """Write a functional TF.js layers model (input layer ``in``, output layer ``output``)."""
    path = write_model(folder, layers, weights)
    spec = json.loads(path.read_text())
    spec["modelTopology"]["model_config"] = {
        "class_name": "Model",
        "config": {
            "name": "f",
            "layers": layers,
            "input_layers": [["in", 0, 0]],
            "output_layers": [[output, 0, 0]],
        },
    }
    path.write_text(json.dumps(spec))
    return path


def np_conv_same(x: np.ndarray, k: np.ndarray, stride: int) -> np.ndarray:
    """TF 'same' convolution in NHWC with HWIO kernels, written out the slow way."""
    n, h, w, _ = x.shape
    kh, kw, _, co = k.shape
    (pt, pb), (pl, pr) = _same_pads(h, kh, stride), _same_pads(w, kw, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh, ow = -(-h // stride), -(-w // stride)
    out = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j] = np.einsum("nhwc,hwco->no", patch, k)
    return out


def np_maxpool_same(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    n, h, w, c = x.shape
    (pt, pb), (pl, pr) = _same_pads(h, size, stride), _same_pads(w, size, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    oh, ow = -(-h // stride), -(-w // stride)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = xp[:, i * stride : i * stride + size, j * stride : j * stride + size].max(
                axis=(1, 2)
            )
    return out


def test_same_padding_puts_the_odd_pixel_after():
    assert _same_pads(5, 2, 2) == (0, 1)  # out 3: (3-1)*2+2-5 = 1
    assert _same_pads(6, 3, 2) == (0, 1)
    assert _same_pads(7, 3, 2) == (1, 1)
    assert _same_pads(4, 4, 1) == (1, 2)
    assert _same_pads(8, 1, 2) == (0, 0)


@pytest.fixture
def tiny_model(tmp_path):
    """Conv (even kernel, stride 2, 'same') -> BN -> LeakyReLU -> MaxPool 3/2 'same' -> Flatten -> Dense."""
    rng = np.random.default_rng(0)
    k = rng.normal(size=(2, 2, 3, 4)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    bn = [rng.uniform(0.5, 1.5, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)]
    dk = rng.normal(size=(2 * 2 * 4, 5)).astype(np.float32)
    db = rng.normal(size=5).astype(np.float32)
    layers = [
        layer(
            "Conv2D",
            "c",
            filters=4,
            kernel_size=[2, 2],
            strides=[2, 2],
            padding="same",
            activation="linear",
            use_bias=True,
            batch_input_shape=[None, 7, 7, 3],
            data_format="channels_last",
        ),
        layer("BatchNormalization", "bn", axis=-1, epsilon=1e-3, center=True, scale=True),
        layer("LeakyReLU", "lr", alpha=0.1),
        layer("MaxPooling2D", "p", pool_size=[3, 3], strides=[2, 2], padding="same"),
        layer("Dropout", "drop", rate=0.5),
        layer("Flatten", "f", data_format="channels_last"),
        layer("Dense", "d", units=5, activation="softmax", use_bias=True),
    ]
    weights = [("c/kernel", k), ("c/bias", b)]
    weights += [
        (f"bn/{n}", np.asarray(a, np.float32))
        for n, a in zip(("gamma", "beta", "moving_mean", "moving_variance"), bn, strict=True)
    ]
    weights += [("d/kernel", dk), ("d/bias", db)]
    path = write_model(tmp_path / "tiny", layers, weights)

    def reference(x_nhwc: np.ndarray, softmax: bool) -> np.ndarray:
        y = np_conv_same(x_nhwc.astype(np.float64), k, 2) + b  # 7 -> 4
        y = (y - bn[2]) / np.sqrt(bn[3] + 1e-3) * bn[0] + bn[1]
        y = np.where(y > 0, y, 0.1 * y)
        y = np_maxpool_same(y, 3, 2)  # 4 -> 2
        y = y.reshape(len(y), -1) @ dk + db  # channels-last flatten
        if softmax:
            y = np.exp(y - y.max(1, keepdims=True))
            y = y / y.sum(1, keepdims=True)
        return y

    return path, reference


@pytest.mark.parametrize("drop", [False, True])
def test_matches_keras_semantics(tiny_model, drop):
    path, reference = tiny_model
    model = load_tfjs(path, drop_final_softmax=drop)
    assert not model.training and model.input_shape == (3, 7, 7)
    x = np.random.default_rng(1).normal(size=(3, 7, 7, 3)).astype(np.float32)
    out = model(torch.from_numpy(x).permute(0, 3, 1, 2)).detach().numpy()
    np.testing.assert_allclose(out, reference(x, softmax=not drop), rtol=1e-4, atol=1e-5)


def test_functional_graph_with_add_and_global_pool(tmp_path):
    rng = np.random.default_rng(2)
    k1, k2 = (
        rng.normal(size=(3, 3, 2, 2)).astype(np.float32),
        rng.normal(size=(1, 1, 2, 2)).astype(np.float32),
    )
    conv = dict(filters=2, strides=[1, 1], padding="same", activation="relu", use_bias=False)
    layers = [
        node("in", "InputLayer", [], batch_input_shape=[None, 5, 5, 2]),
        node("a", "Conv2D", ["in"], kernel_size=[3, 3], **conv),
        node("b", "Conv2D", ["in"], kernel_size=[1, 1], **conv),
        node("s", "Add", ["a", "b"]),
        node("g", "GlobalAveragePooling2D", ["s"]),
    ]
    path = write_functional(tmp_path / "f", layers, [("a/kernel", k1), ("b/kernel", k2)], "g")
    model = load_tfjs(path)
    x = rng.normal(size=(2, 5, 5, 2))
    want = (np.maximum(np_conv_same(x, k1, 1), 0) + np.maximum(np_conv_same(x, k2, 1), 0)).mean(axis=(1, 2))
    got = model(torch.tensor(x, dtype=torch.float32).permute(0, 3, 1, 2)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_wrong_input_shape_is_refused(tiny_model):
    model = load_tfjs(tiny_model[0])
    with pytest.raises(StrokelensError, match=r"\(B, 3, 7, 7\)"):
        model(torch.zeros(1, 7, 7, 3))


# ------------------------------------------------------------------------ damaged real files


@pytest.fixture
def doodle_copy(home, tmp_path) -> Path:
    """A private copy of the shared DoodleNet files, safe to damage."""
    dst = tmp_path / "doodlenet"
    shutil.copytree(home / "models" / "doodlenet", dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def edit_json(path: Path, change) -> None:
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


def test_intact_copy_loads(doodle_copy):
    model = load_tfjs(doodle_copy / "model.json")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 345)


def test_truncated_shard(doodle_copy):
    shard = doodle_copy / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(StrokelensError, match=r"group1-shard1of1\.bin is truncated"):
        load_tfjs(doodle_copy / "model.json")


def test_padded_shard(doodle_copy):
    shard = doodle_copy / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes() + b"\0" * 4)
    with pytest.raises(StrokelensError, match=r"group1-shard1of1\.bin is too long"):
        load_tfjs(doodle_copy / "model.json")


def test_corrupted_shard_with_nan(doodle_copy):
    shard = doodle_copy / "group1-shard1of1.bin"
    data = bytearray(shard.read_bytes())
    data[4000:4004] = np.array([np.nan], dtype="<f4").tobytes()
    shard.write_bytes(bytes(data))
    with pytest.raises(StrokelensError, match=r"group1-shard1of1\.bin is corrupted.*NaN"):
        load_tfjs(doodle_copy / "model.json")


def test_missing_shard(doodle_copy):
    (doodle_copy / "group1-shard1of1.bin").unlink()
    with pytest.raises(StrokelensError, match=r"missing weight shard .*group1-shard1of1\.bin"):
        load_tfjs(doodle_copy / "model.json")


def test_wrong_weight_shape(doodle_copy):
    def swap(spec):  # same byte count, transposed shape
        spec["weightsManifest"][0]["weights"][0]["shape"] = [3, 3, 16, 1]

    edit_json(doodle_copy / "model.json", swap)
    with pytest.raises(StrokelensError, match=r"conv2d/kernel.*shape \[3, 3, 16, 1\].*needs \[3, 3, 1, 16\]"):
        load_tfjs(doodle_copy / "model.json")


def test_unknown_layer_type(doodle_copy):
    def rename(spec):
        spec["modelTopology"]["model_config"]["config"]["layers"][2]["class_name"] = "FancyPooling2D"

    edit_json(doodle_copy / "model.json", rename)
    with pytest.raises(
        StrokelensError, match=r"model\.json: layer 'max_pooling2d': unknown layer type 'FancyPooling2D'"
    ):
        load_tfjs(doodle_copy / "model.json")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("padding", "causal", "unsupported padding 'causal'"),
        ("data_format", "channels_first", "unsupported data_format"),
        ("activation", "gelu_fancy", "unsupported activation"),
    ],
)
def test_unsupported_config(doodle_copy, key, value, message):
    def change(spec):
        spec["modelTopology"]["model_config"]["config"]["layers"][1]["config"][key] = value

    edit_json(doodle_copy / "model.json", change)
    with pytest.raises(StrokelensError, match=message):
        load_tfjs(doodle_copy / "model.json")


def test_unused_or_missing_weights(doodle_copy):
    def drop_layer(spec):
        del spec["modelTopology"]["model_config"]["config"]["layers"][-1]

    edit_json(doodle_copy / "model.json", drop_layer)
    with pytest.raises(StrokelensError, match="not used by any layer: dense_1/bias"):
        load_tfjs(doodle_copy / "model.json")


def test_bad_manifest_paths_and_json(doodle_copy, tmp_path):
    def escape(spec):
        spec["weightsManifest"][0]["paths"] = ["../elsewhere.bin"]

    edit_json(doodle_copy / "model.json", escape)
    with pytest.raises(StrokelensError, match="bad weight shard path"):
        read_weights(doodle_copy / "model.json")
    (doodle_copy / "model.json").write_text("{not json")
    with pytest.raises(StrokelensError, match=r"model\.json: not valid JSON"):
        load_tfjs(doodle_copy / "model.json")
    with pytest.raises(StrokelensError, match="missing model file"):
        load_tfjs(tmp_path / "nowhere" / "model.json")


# ------------------------------------------------------- sizes in model.json checked before use


def layers_of(spec: dict) -> list[dict]:
    return spec["modelTopology"]["model_config"]["config"]["layers"]


@pytest.mark.parametrize("kind", ["FancyPooling2D", "pool", "seq", "rank4", "InputLayer2"])
def test_unknown_layer_class_names_the_layer_and_the_supported_ones(doodle_copy, kind):
    # "pool", "seq" and "rank4" used to reach builder helpers and fail with a raw TypeError
    def rename(spec):
        layers_of(spec)[2]["class_name"] = kind

    edit_json(doodle_copy / "model.json", rename)
    with pytest.raises(StrokelensError) as info:
        load_tfjs(doodle_copy / "model.json")
    msg = str(info.value)
    assert f"layer 'max_pooling2d': unknown layer type {kind!r}" in msg
    assert "supported layer classes: " in msg
    for supported in ("Conv2D", "Dense", "MaxPooling2D", "BatchNormalization"):
        assert supported in msg
    assert "Conv2D" in LAYER_BUILDERS and kind not in LAYER_BUILDERS


def test_class_name_that_is_not_a_string(doodle_copy):
    def listed(spec):
        layers_of(spec)[2]["class_name"] = ["MaxPooling2D"]

    edit_json(doodle_copy / "model.json", listed)
    with pytest.raises(
        StrokelensError, match=r"layer 'max_pooling2d': unknown layer type \['MaxPooling2D'\]"
    ):
        load_tfjs(doodle_copy / "model.json")


@pytest.mark.parametrize(
    ("index", "key", "value", "message"),
    [
        (11, "units", 256, r"dense/kernel.*shape \[576, 512\].*layer 'dense' needs \[576, 256\]"),
        (0, "filters", 8, r"conv2d/kernel.*shape \[3, 3, 1, 16\].*layer 'conv2d' needs \[3, 3, 1, 8\]"),
        (0, "kernel_size", [5, 5], r"conv2d/kernel.*layer 'conv2d' needs \[5, 5, 1, 16\]"),
    ],
)
def test_declared_size_disagreeing_with_the_weights(doodle_copy, index, key, value, message):
    def change(spec):
        layers_of(spec)[index]["config"][key] = value

    edit_json(doodle_copy / "model.json", change)
    with pytest.raises(StrokelensError, match=message):
        load_tfjs(doodle_copy / "model.json")


class _Spy:
    """Records the sizes of every module of one class made while it is installed."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __call__(self, *args, **kwargs):
        self.calls.append(args[:2])
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(("index", "key", "module"), [(11, "units", "Linear"), (0, "filters", "Conv2d")])
def test_huge_declared_size_refused_quickly_without_allocating(doodle_copy, monkeypatch, index, key, module):
    def change(spec):
        layers_of(spec)[index]["config"][key] = 10**9

    edit_json(doodle_copy / "model.json", change)
    spy = _Spy(getattr(tfjs_layers.nn, module))
    monkeypatch.setattr(tfjs_layers.nn, module, spy)
    start = time.perf_counter()
    with pytest.raises(StrokelensError) as info:
        load_tfjs(doodle_copy / "model.json")
    elapsed = time.perf_counter() - start
    name = layers_of(json.loads((doodle_copy / "model.json").read_text()))[index]["config"]["name"]
    assert f"layer {name!r} needs" in str(info.value) and str(10**9) in str(info.value)
    assert all(10**9 not in sizes for sizes in spy.calls)  # no module of the declared size was made
    if module == "Linear":
        assert spy.calls == []  # the first Dense is refused before any Linear exists
    assert elapsed < 5.0  # generous for a busy machine; the spy is the real check


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w[0].update(dtype="float16"), "unsupported dtype 'float16'"),
        (lambda w: w[12].update(shape=[576, 10**9]), "is truncated"),
        (lambda w: w[0].update(shape=[3, 3, -1, 16]), "malformed shape"),
    ],
)
def test_manifest_checked_before_any_module(doodle_copy, monkeypatch, change, message):
    edit_json(doodle_copy / "model.json", lambda spec: change(spec["weightsManifest"][0]["weights"]))
    spy = _Spy(tfjs_layers.nn.Conv2d)
    monkeypatch.setattr(tfjs_layers.nn, "Conv2d", spy)
    with pytest.raises(StrokelensError, match=message):
        load_tfjs(doodle_copy / "model.json")
    assert spy.calls == []


def test_malformed_layer_config_is_a_strokelens_error(tmp_path):
    k = np.ones((2, 2), np.float32)
    path = write_model(
        tmp_path / "m",
        [
            layer("Dense", "d", units=2, batch_input_shape=[None, 2]),
            layer("BatchNormalization", "bn", epsilon="tiny"),
        ],
        [
            ("d/kernel", k),
            ("d/bias", np.zeros(2)),
            ("bn/gamma", np.ones(2)),
            ("bn/beta", np.zeros(2)),
            ("bn/moving_mean", np.zeros(2)),
            ("bn/moving_variance", np.ones(2)),
        ],
    )
    with pytest.raises(StrokelensError, match=r"layer 'bn': malformed BatchNormalization config"):
        load_tfjs(path)
