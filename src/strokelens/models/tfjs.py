"""Load TensorFlow.js *layers* models (``model.json`` + weight shards) into PyTorch, without pickle.

A TF.js layers model is a Keras topology (``modelTopology``) plus a weights manifest
(``weightsManifest``): groups of weight shards, each a list of files whose bytes, concatenated, hold
the group's weights one after another as little-endian float32 in manifest order. This module reads
the shards with ``np.frombuffer`` and builds a generic `TFJSModel` from the topology:

- Keras ``Sequential`` models and functional ``Model`` graphs with one input and one output;
- layers: ``InputLayer`` and the classes of `LAYER_BUILDERS`, an explicit table from Keras class name
  to builder (``Conv2D``, ``Dense``, ``MaxPooling2D``, ``AveragePooling2D``,
  ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``, ``BatchNormalization``, ``Flatten``,
  ``Dropout``, ``Activation``, ``ReLU``, ``LeakyReLU``, ``Softmax``, ``ZeroPadding2D``, ``Add``,
  ``Concatenate``, ...); any other class is refused, naming the layer and the supported classes.

Order of checks: the weights manifest (shapes, dtypes, byte counts against the shard sizes) is checked
before any shard is read, and each layer takes its weights, checking their shapes against its config,
before its module is made; the module's sizes come from those checked weights. So a size declared in
model.json (say 10^9 units) that the weights do not back is refused before anything is allocated.

The built module takes PyTorch layout (``NCHW``) and computes exactly what Keras computes in
``NHWC``: TF ``'same'`` padding is reproduced with its asymmetric split (more padding after than
before), and ``Flatten`` flattens in channels-last order so that the following ``Dense`` kernel
applies unchanged. Every weight's shape is checked against the layer that uses it, every shard's
byte count against the manifest, and every value for NaN/inf; any problem raises `StrokelensError`
naming the file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from strokelens.errors import StrokelensError

__all__ = ["TFJSModel", "load_tfjs", "read_model_json", "read_weights"]

#: model.json files larger than this are refused (the shared ones are under 40 KB).
MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024
#: Byte size of each manifest dtype this loader reads.
DTYPE_BYTES = {"float32": 4}

Shape = tuple  # channels-last shape without the batch dimension; None for an unknown size

# --------------------------------------------------------------------------------------- reading


def read_model_json(path: str | os.PathLike[str]) -> dict:
    """Parse a TF.js ``model.json``; raise `StrokelensError` if it is missing or not a layers model."""
    path = Path(path)
    if not path.is_file():
        raise StrokelensError(f"missing model file {path}")
    if path.stat().st_size > MAX_MODEL_JSON_BYTES:
        raise StrokelensError(f"{path}: model.json is larger than {MAX_MODEL_JSON_BYTES} bytes")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StrokelensError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or "modelTopology" not in spec or "weightsManifest" not in spec:
        raise StrokelensError(f"{path}: not a TF.js layers model (needs modelTopology and weightsManifest)")
    fmt = spec.get("format", "layers-model")
    if fmt != "layers-model":
        raise StrokelensError(f"{path}: unsupported TF.js format {fmt!r} (only 'layers-model')")
    return spec


def _shard_path(folder: Path, name: object, model_json: Path) -> Path:
    """A shard's path inside ``folder``; refuse names that would leave it."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise StrokelensError(f"{model_json}: bad weight shard path {name!r}")
    return folder / name


def _entry_shape(entry: object, model_json: Path) -> tuple[str, tuple[int, ...], str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise StrokelensError(f"{model_json}: malformed weights manifest entry {entry!r}")
    name, shape, dtype = entry["name"], entry.get("shape"), entry.get("dtype", "float32")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise StrokelensError(f"{model_json}: weight {name!r} has a malformed shape {shape!r}")
    if dtype not in DTYPE_BYTES:
        raise StrokelensError(f"{model_json}: weight {name!r} has unsupported dtype {dtype!r}")
    if "quantization" in entry:
        raise StrokelensError(f"{model_json}: weight {name!r} is quantized; only float32 weights load")
    return name, tuple(shape), dtype


def read_weights(model_json: str | os.PathLike[str], manifest: object | None = None) -> dict[str, np.ndarray]:
    """Read every weight of a TF.js weights manifest into float32 arrays, keyed by weight name.

    Each group's files must together hold exactly the bytes the manifest declares, and every value
    must be finite; otherwise `StrokelensError` names the file.
    """
    model_json = Path(model_json)
    if manifest is None:
        manifest = read_model_json(model_json)["weightsManifest"]
    if not isinstance(manifest, list):
        raise StrokelensError(f"{model_json}: weightsManifest must be a list of groups")
    folder = model_json.parent
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) or not group["paths"]:
            raise StrokelensError(f"{model_json}: malformed weights manifest group {group!r}")
        paths = [_shard_path(folder, p, model_json) for p in group["paths"]]
        entries = [_entry_shape(e, model_json) for e in group.get("weights", [])]
        expected = sum(math.prod(shape) * DTYPE_BYTES[dt] for _, shape, dt in entries)
        for p in paths:
            if not p.is_file():
                raise StrokelensError(f"missing weight shard {p} (listed in {model_json})")
        sizes = [p.stat().st_size for p in paths]
        where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]}"
        if sum(sizes) != expected:
            state = "truncated" if sum(sizes) < expected else "too long"
            raise StrokelensError(
                f"weight shard {where} is {state}: {sum(sizes)} bytes, the manifest in "
                f"{model_json.name} declares {expected}"
            )
        data = b"".join(p.read_bytes() for p in paths)
        if len(data) != expected:  # changed while reading
            raise StrokelensError(f"weight shard {where}: read {len(data)} bytes, expected {expected}")
        offset = 0
        for name, shape, dtype in entries:
            count = math.prod(shape)
            arr = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(shape)
            offset += count * DTYPE_BYTES[dtype]
            if not np.isfinite(arr).all():
                raise StrokelensError(
                    f"weight shard {where} is corrupted: weight {name!r} has NaN or inf values"
                )
            if name in weights:
                raise StrokelensError(f"{model_json}: weight {name!r} appears twice in the manifest")
            weights[name] = arr.astype(np.float32)  # a writable, native-order copy
    return weights


class _WeightStore:
    """Weights by name; each layer takes its own, checking the shape it needs."""

    def __init__(self, weights: dict[str, np.ndarray], source: Path) -> None:
        self.weights = dict(weights)
        self.source = source

    def take(self, layer: str, key: str, shape: tuple[int, ...]) -> torch.Tensor:
        name = f"{layer}/{key}"
        if name not in self.weights:  # some exporters prefix a scope: "model/conv2d/kernel"
            hits = [n for n in self.weights if n.endswith("/" + name)]
            if len(hits) != 1:
                raise StrokelensError(f"{self.source}: weight {name!r} of layer {layer!r} is missing")
            name = hits[0]
        arr = self.weights.pop(name)
        if tuple(arr.shape) != tuple(shape):
            raise StrokelensError(
                f"{self.source}: weight {name!r} has shape {list(arr.shape)}, "
                f"layer {layer!r} needs {list(shape)}"
            )
        return torch.from_numpy(arr)

    def check_all_used(self) -> None:
        if self.weights:
            names = ", ".join(sorted(self.weights)[:5])
            raise StrokelensError(f"{self.source}: weights not used by any layer: {names}")


# ---------------------------------------------------------------------------------------- layers


def _same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'same' padding (before, after) along one axis: the extra pixel goes after."""
    k_eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


class SamePad2d(nn.Module):
    """Pad an NCHW tensor the way TF pads for ``padding='same'`` (asymmetric when the total is odd)."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], dilation=(1, 1), value=0.0) -> None:
        super().__init__()
        self.kernel, self.stride, self.dilation, self.value = (
            tuple(kernel),
            tuple(stride),
            tuple(dilation),
            value,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_pads(x.shape[-2], self.kernel[0], self.stride[0], self.dilation[0])
        left, right = _same_pads(x.shape[-1], self.kernel[1], self.stride[1], self.dilation[1])
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom), value=self.value)


class ChannelsLastFlatten(nn.Module):
    """Keras ``Flatten`` on channels-last data: NCHW -> NHWC -> (B, H*W*C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.movedim(1, -1)
        return x.flatten(1)


class ChannelDense(nn.Module):
    """Keras ``Dense``: a linear map over the channel axis (the last in Keras, dim 1 here)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return self.linear(x)
        return self.linear(x.movedim(1, -1)).movedim(-1, 1)


class Lambda(nn.Module):
    """A parameter-free function as a module (activations, global pooling)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str) -> None:
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class AvgPoolSame(nn.Module):
    """Keras ``AveragePooling2D(padding='same')``: padded pixels are left out of each average."""

    def __init__(self, kernel, stride) -> None:
        super().__init__()
        self.pad = SamePad2d(kernel, stride)
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(self.pad(x), self.kernel, self.stride, divisor_override=1)
        ones = self.pad(torch.ones_like(x[:1, :1]))
        count = F.avg_pool2d(ones, self.kernel, self.stride, divisor_override=1)
        return total / count


class Merge(nn.Module):
    """Keras ``Add`` / ``Concatenate`` of several inputs."""

    def __init__(self, kind: str, dim: int = 1) -> None:
        super().__init__()
        self.kind, self.dim = kind, dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.kind == "add":
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return out
        return torch.cat(xs, dim=self.dim)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softmax": lambda: nn.Softmax(dim=1),  # the channel axis: Keras' last axis
    "elu": nn.ELU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "swish": nn.SiLU,
    "hard_sigmoid": lambda: Lambda(lambda x: torch.clamp(0.2 * x + 0.5, 0.0, 1.0), "hard_sigmoid"),
}


def _pair(value, name: str, layer: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise StrokelensError(f"layer {layer!r}: unsupported {name} {value!r}")


class _Builder:
    """Turns one Keras layer config into a module and its output shape, taking its weights."""

    def __init__(self, store: _WeightStore, source: Path, drop_softmax_of: str | None) -> None:
        self.store, self.source, self.drop_softmax_of = store, source, drop_softmax_of

    def fail(self, layer: str, what: str) -> StrokelensError:
        return StrokelensError(f"{self.source}: layer {layer!r}: {what}")

    def activation(self, name: str, act: object) -> nn.Module | None:
        if act is None or act == "linear":
            return None
        if not isinstance(act, str) or act not in ACTIVATIONS:
            raise self.fail(name, f"unsupported activation {act!r}")
        if act == "softmax" and name == self.drop_softmax_of:
            return None
        return ACTIVATIONS[act]()

    def check_format(self, name: str, cfg: dict) -> None:
        fmt = cfg.get("data_format", "channels_last")
        if fmt not in (None, "channels_last"):
            raise self.fail(name, f"unsupported data_format {fmt!r} (only channels_last)")

    def build(self, kind: object, name: str, cfg: dict, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
        """The module for one layer, through `LAYER_BUILDERS`; a module's sizes come from its weights."""
        method = LAYER_BUILDERS.get(kind) if isinstance(kind, str) else None
        if method is None:
            raise self.fail(
                name, f"unknown layer type {kind!r}; supported layer classes: {', '.join(LAYER_BUILDERS)}"
            )
        if kind not in ("Add", "Concatenate") and len(shapes) != 1:
            raise self.fail(name, f"expects one input, got {len(shapes)}")
        try:
            return method(self, name, cfg, shapes)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            raise self.fail(name, f"malformed {kind} config ({type(exc).__name__}: {exc})") from None

    @staticmethod
    def _seq(*mods: nn.Module | None) -> nn.Module:
        mods = [m for m in mods if m is not None]
        if not mods:
            return nn.Identity()
        return mods[0] if len(mods) == 1 else nn.Sequential(*mods)

    def _rank4(self, name: str, shape: Shape) -> tuple:
        if len(shape) != 3:
            raise self.fail(name, f"needs an image input (H, W, C), got shape {list(shape)}")
        return shape

    # --- layers -------------------------------------------------------------------------------
    def _Conv2D(self, name, cfg, shapes):
        self.check_format(name, cfg)
        h, w, c = self._rank4(name, shapes[0])
        if c is None:
            raise self.fail(name, "input channel count unknown")
        k = _pair(cfg.get("kernel_size"), "kernel_size", name)
        s = _pair(cfg.get("strides", 1), "strides", name)
        d = _pair(cfg.get("dilation_rate", 1), "dilation_rate", name)
        filters, padding = cfg.get("filters"), cfg.get("padding", "valid")
        if not isinstance(filters, int) or filters < 1:
            raise self.fail(name, f"bad filters {filters!r}")
        if cfg.get("groups", 1) != 1:
            raise self.fail(name, f"unsupported groups {cfg.get('groups')!r}")
        if padding not in ("same", "valid"):
            raise self.fail(name, f"unsupported padding {padding!r}")
        symmetric = (
            padding == "same"
            and s == (1, 1)
            and all(((ki - 1) * di) % 2 == 0 for ki, di in zip(k, d, strict=True))
        )
        conv_pad = tuple((ki - 1) * di // 2 for ki, di in zip(k, d, strict=True)) if symmetric else 0
        # weights first: their checked shapes, not the sizes model.json declares, size the module
        kernel = self.store.take(name, "kernel", (*k, c, filters))
        bias = self.store.take(name, "bias", (filters,)) if cfg.get("use_bias", True) else None
        conv = _from_weights(
            nn.Conv2d,
            (kernel.shape[2], kernel.shape[3], tuple(kernel.shape[:2])),
            {"stride": s, "dilation": d, "padding": conv_pad},
            kernel.permute(3, 2, 0, 1),
            bias,
        )
        pad = SamePad2d(k, s, d) if padding == "same" and not symmetric else None
        out = tuple(_out_size(n, ki, si, di, padding) for n, ki, si, di in zip((h, w), k, s, d, strict=True))
        return self._seq(pad, conv, self.activation(name, cfg.get("activation"))), (*out, filters)

    def _Dense(self, name, cfg, shapes):
        shape = shapes[0]
        units, n_in = cfg.get("units"), shape[-1] if shape else None
        if not isinstance(units, int) or units < 1:
            raise self.fail(name, f"bad units {units!r}")
        if n_in is None:
            raise self.fail(name, "input size unknown")
        kernel = self.store.take(name, "kernel", (n_in, units))
        bias = self.store.take(name, "bias", (units,)) if cfg.get("use_bias", True) else None
        lin = _from_weights(nn.Linear, tuple(kernel.shape), {}, kernel.T, bias)
        act = self.activation(name, cfg.get("activation"))
        return self._seq(ChannelDense(lin) if len(shape) > 1 else lin, act), (*shape[:-1], units)

    def _pool(self, name, cfg, shapes, kind: str):
        self.check_format(name, cfg)
        h, w, c = self._rank4(name, shapes[0])
        k = _pair(cfg.get("pool_size", 2), "pool_size", name)
        s = _pair(cfg.get("strides") or k, "strides", name)
        padding = cfg.get("padding", "valid")
        if padding not in ("same", "valid"):
            raise self.fail(name, f"unsupported padding {padding!r}")
        out = tuple(_out_size(n, ki, si, 1, padding) for n, ki, si in zip((h, w), k, s, strict=True))
        if kind == "max":
            pool = nn.MaxPool2d(k, s)
            mod = self._seq(SamePad2d(k, s, value=-math.inf), pool) if padding == "same" else pool
        else:
            mod = AvgPoolSame(k, s) if padding == "same" else nn.AvgPool2d(k, s)
        return mod, (*out, c)

    def _MaxPooling2D(self, name, cfg, shapes):
        return self._pool(name, cfg, shapes, "max")

    def _AveragePooling2D(self, name, cfg, shapes):
        return self._pool(name, cfg, shapes, "avg")

    def _GlobalAveragePooling2D(self, name, cfg, shapes):
        self.check_format(name, cfg)
        if cfg.get("keepdims"):
            raise self.fail(name, "unsupported keepdims=True")
        c = self._rank4(name, shapes[0])[2]
        return Lambda(lambda x: x.mean(dim=(2, 3)), "global average"), (c,)

    def _GlobalMaxPooling2D(self, name, cfg, shapes):
        self.check_format(name, cfg)
        if cfg.get("keepdims"):
            raise self.fail(name, "unsupported keepdims=True")
        c = self._rank4(name, shapes[0])[2]
        return Lambda(lambda x: x.amax(dim=(2, 3)), "global max"), (c,)

    def _BatchNormalization(self, name, cfg, shapes):
        shape = shapes[0]
        axis = cfg.get("axis", -1)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        if axis not in (-1, len(shape)):
            raise self.fail(name, f"unsupported axis {axis!r} (only the channel axis)")
        c = shape[-1]
        if c is None:
            raise self.fail(name, "channel count unknown")
        eps = float(cfg.get("epsilon", 1e-3))
        gamma = self.store.take(name, "gamma", (c,)) if cfg.get("scale", True) else None
        beta = self.store.take(name, "beta", (c,)) if cfg.get("center", True) else None
        mean = self.store.take(name, "moving_mean", (c,))
        var = self.store.take(name, "moving_variance", (c,))
        c = mean.shape[0]  # checked against the weights before anything is allocated
        bn = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(c, eps=eps)
        with torch.no_grad():
            bn.weight.copy_(gamma if gamma is not None else torch.ones(c))
            bn.bias.copy_(beta if beta is not None else torch.zeros(c))
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
        return bn, shape

    def _Flatten(self, name, cfg, shapes):
        self.check_format(name, cfg)
        size = math.prod(shapes[0]) if all(d is not None for d in shapes[0]) else None
        return ChannelsLastFlatten(), (size,)

    def _Dropout(self, name, cfg, shapes):
        return nn.Identity(), shapes[0]

    _SpatialDropout2D = _Dropout
    _GaussianNoise = _Dropout

    def _Activation(self, name, cfg, shapes):
        return self.activation(name, cfg.get("activation")) or nn.Identity(), shapes[0]

    def _Softmax(self, name, cfg, shapes):
        if cfg.get("axis", -1) not in (-1, len(shapes[0])):
            raise self.fail(name, f"unsupported softmax axis {cfg.get('axis')!r}")
        return self.activation(name, "softmax") or nn.Identity(), shapes[0]

    def _ReLU(self, name, cfg, shapes):
        slope, mx, thr = cfg.get("negative_slope", 0.0), cfg.get("max_value"), cfg.get("threshold", 0.0)
        if thr not in (0, 0.0, None):
            raise self.fail(name, f"unsupported threshold {thr!r}")
        slope = float(slope or 0.0)
        if mx is None:
            return (nn.LeakyReLU(slope) if slope else nn.ReLU()), shapes[0]
        hi = float(mx)
        return Lambda(lambda x: torch.clamp(F.leaky_relu(x, slope), max=hi), "relu"), shapes[0]

    def _LeakyReLU(self, name, cfg, shapes):
        alpha = float(cfg.get("alpha", cfg.get("negative_slope", 0.3)))
        return nn.LeakyReLU(alpha), shapes[0]

    def _ZeroPadding2D(self, name, cfg, shapes):
        self.check_format(name, cfg)
        h, w, c = self._rank4(name, shapes[0])
        p = cfg.get("padding", 1)
        if isinstance(p, int):
            (t, b), (lft, r) = (p, p), (p, p)
        elif isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p):
            (t, b), (lft, r) = (p[0], p[0]), (p[1], p[1])
        elif isinstance(p, list) and len(p) == 2 and all(isinstance(v, list) and len(v) == 2 for v in p):
            (t, b), (lft, r) = p
        else:
            raise self.fail(name, f"unsupported padding {p!r}")
        grow = lambda n, a, z: None if n is None else n + a + z  # noqa: E731
        return nn.ZeroPad2d((lft, r, t, b)), (grow(h, t, b), grow(w, lft, r), c)

    def _Add(self, name, cfg, shapes):
        if len(shapes) < 2 or any(s != shapes[0] for s in shapes):
            raise self.fail(name, f"Add needs two or more inputs of one shape, got {shapes}")
        return Merge("add"), shapes[0]

    def _Concatenate(self, name, cfg, shapes):
        rank = len(shapes[0])
        if len(shapes) < 2 or any(len(s) != rank for s in shapes) or cfg.get("axis", -1) not in (-1, rank):
            raise self.fail(name, "Concatenate only joins two or more inputs along the channel axis")
        c = [s[-1] for s in shapes]
        return Merge("cat", 1), (*shapes[0][:-1], None if None in c else sum(c))


#: The layer classes this loader builds: Keras class name -> builder. Anything else is refused.
LAYER_BUILDERS: dict[str, Callable[..., tuple[nn.Module, Shape]]] = {
    "Activation": _Builder._Activation,
    "Add": _Builder._Add,
    "AveragePooling2D": _Builder._AveragePooling2D,
    "BatchNormalization": _Builder._BatchNormalization,
    "Concatenate": _Builder._Concatenate,
    "Conv2D": _Builder._Conv2D,
    "Dense": _Builder._Dense,
    "Dropout": _Builder._Dropout,
    "Flatten": _Builder._Flatten,
    "GaussianNoise": _Builder._Dropout,
    "GlobalAveragePooling2D": _Builder._GlobalAveragePooling2D,
    "GlobalMaxPooling2D": _Builder._GlobalMaxPooling2D,
    "LeakyReLU": _Builder._LeakyReLU,
    "MaxPooling2D": _Builder._MaxPooling2D,
    "ReLU": _Builder._ReLU,
    "Softmax": _Builder._Softmax,
    "SpatialDropout2D": _Builder._Dropout,
    "ZeroPadding2D": _Builder._ZeroPadding2D,
}


def _from_weights(
    cls, args: tuple, kwargs: dict, weight: torch.Tensor, bias: torch.Tensor | None
) -> nn.Module:
    """``cls(*args, **kwargs)`` built on the meta device (nothing allocated, nothing initialised), then
    given the already checked weight and bias as its parameters."""
    module = cls(*args, bias=bias is not None, device="meta", **kwargs)
    module.weight = nn.Parameter(weight.contiguous(), requires_grad=True)
    if bias is not None:
        module.bias = nn.Parameter(bias.contiguous(), requires_grad=True)
    return module


def _out_size(n: int | None, k: int, s: int, d: int, padding: str) -> int | None:
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return (n - ((k - 1) * d + 1)) // s + 1


# ----------------------------------------------------------------------------------------- model


class TFJSModel(nn.Module):
    """A Keras graph rebuilt in PyTorch: takes ``NCHW`` (or ``(B, features)``), returns the output.

    ``input_shape`` is the Keras input shape in PyTorch order without the batch dimension, e.g.
    ``(1, 28, 28)``; ``None`` marks a size the model accepts freely.
    """

    def __init__(
        self,
        layers: dict[str, nn.Module],
        graph: list[tuple[str, list[str]]],
        input_name: str,
        output_name: str,
        input_shape: Shape,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.graph = graph
        self.input_name, self.output_name = input_name, output_name
        keras = tuple(input_shape)
        self.input_shape = (keras[-1], *keras[:-1]) if len(keras) == 3 else keras

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        want = self.input_shape
        if x.dim() != len(want) + 1 or any(
            w is not None and w != g for w, g in zip(want, x.shape[1:], strict=True)
        ):
            shape = ", ".join("?" if w is None else str(w) for w in want)
            raise StrokelensError(f"model input must have shape (B, {shape}), got {tuple(x.shape)}")
        values = {self.input_name: x}
        for name, inputs in self.graph:
            values[name] = self.layers[name](*(values[i] for i in inputs))
        return values[self.output_name]


def _layer_name(layer: dict, index: int) -> str:
    name = layer.get("name") or layer.get("config", {}).get("name") or f"layer_{index}"
    if not isinstance(name, str) or "." in name:
        raise StrokelensError(f"bad layer name {name!r}")
    return name


def _inbound(layer: dict, name: str, source: Path) -> list[str]:
    nodes = layer.get("inbound_nodes", [])
    if not nodes:
        return []
    if len(nodes) != 1 or not isinstance(nodes[0], list):
        raise StrokelensError(f"{source}: layer {name!r}: shared layers (several call sites) are unsupported")
    out = []
    for ref in nodes[0]:
        if (
            not isinstance(ref, list)
            or not ref
            or not isinstance(ref[0], str)
            or ref[1:3] not in ([0, 0], [])
        ):
            raise StrokelensError(f"{source}: layer {name!r}: unsupported inbound node {ref!r}")
        out.append(ref[0])
    return out


def build_model(
    topology: dict, weights: dict[str, np.ndarray], source: Path, drop_final_softmax: bool = False
) -> TFJSModel:
    """Build a `TFJSModel` from a Keras ``modelTopology`` and its weights (see `load_tfjs`)."""
    try:
        config = topology.get("model_config", topology)
        kind, body = config["class_name"], config["config"]
    except (AttributeError, KeyError, TypeError):
        raise StrokelensError(f"{source}: modelTopology has no model_config") from None
    layer_list = body if isinstance(body, list) else body.get("layers") if isinstance(body, dict) else None
    if not isinstance(layer_list, list) or not layer_list:
        raise StrokelensError(f"{source}: model has no layers")
    if not all(isinstance(layer, dict) and isinstance(layer.get("config", {}), dict) for layer in layer_list):
        raise StrokelensError(f"{source}: malformed layer entry")
    names = [_layer_name(layer, i) for i, layer in enumerate(layer_list)]
    if len(set(names)) != len(names):
        raise StrokelensError(f"{source}: duplicate layer names")

    if kind == "Sequential":
        first = layer_list[0].get("config", {})
        in_shape = first.get("batch_input_shape")
        input_name = "input"
        preds = [[input_name]] + [[n] for n in names[:-1]]
        order = [(lay, n, p) for lay, n, p in zip(layer_list, names, preds, strict=True)]
        if layer_list[0].get("class_name") == "InputLayer":
            order, input_name = order[1:], names[0]
        output_name = names[-1]
    elif kind in ("Model", "Functional"):
        ins, outs = body.get("input_layers"), body.get("output_layers")
        if not (isinstance(ins, list) and len(ins) == 1 and isinstance(outs, list) and len(outs) == 1):
            raise StrokelensError(f"{source}: only models with one input and one output are supported")
        input_name, output_name = ins[0][0], outs[0][0]
        if input_name not in names or output_name not in names:
            raise StrokelensError(f"{source}: input or output layer missing from the layer list")
        in_layer = layer_list[names.index(input_name)]
        if in_layer.get("class_name") != "InputLayer":
            raise StrokelensError(f"{source}: input {input_name!r} is not an InputLayer")
        in_shape = in_layer.get("config", {}).get("batch_input_shape")
        order = [
            (lay, n, _inbound(lay, n, source))
            for lay, n in zip(layer_list, names, strict=True)
            if n != input_name
        ]
    else:
        raise StrokelensError(f"{source}: unsupported model class {kind!r} (Sequential or Model)")
    if (
        not isinstance(in_shape, list)
        or len(in_shape) < 2
        or not all(d is None or isinstance(d, int) for d in in_shape)
    ):
        raise StrokelensError(f"{source}: model has no usable batch_input_shape")

    store = _WeightStore(weights, source)
    builder = _Builder(store, source, output_name if drop_final_softmax else None)
    shapes: dict[str, Shape] = {input_name: tuple(in_shape[1:])}
    modules: dict[str, nn.Module] = {}
    graph: list[tuple[str, list[str]]] = []
    for layer, name, preds in order:
        missing = [p for p in preds if p not in shapes]
        if missing or not preds:
            raise StrokelensError(
                f"{source}: layer {name!r} has unknown or missing inputs {missing or preds}"
            )
        module, shape = builder.build(
            layer.get("class_name"), name, layer.get("config", {}), [shapes[p] for p in preds]
        )
        modules[name], shapes[name] = module, shape
        graph.append((name, preds))
    if output_name not in shapes:
        raise StrokelensError(f"{source}: output layer {output_name!r} is never computed")
    store.check_all_used()
    return TFJSModel(modules, graph, input_name, output_name, tuple(in_shape[1:]))


def load_tfjs(model_json: str | os.PathLike[str], drop_final_softmax: bool = False) -> TFJSModel:
    """Load a TF.js layers model from ``model_json`` and the shards beside it, in eval mode.

    ``drop_final_softmax`` removes a softmax at the output layer so that the model returns logits.
    """
    model_json = Path(model_json)
    spec = read_model_json(model_json)
    weights = read_weights(model_json, spec["weightsManifest"])
    model = build_model(spec["modelTopology"], weights, model_json, drop_final_softmax=drop_final_softmax)
    return model.eval()
