"""Keras layer configs into PyTorch modules: the `LAYER_BUILDERS` table and the builder behind it.

Each layer takes its weights from a `_WeightStore`, checking their shapes against its config, before
its module is made, and the module's sizes come from those checked weights: a size declared in
model.json that the weights do not back is refused before anything is allocated. A class missing
from `LAYER_BUILDERS` is refused, naming the layer and the supported classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from strokelens.errors import StrokelensError
from strokelens.models.tfjs.modules import (
    ACTIVATIONS,
    Add,
    AvgPoolSame,
    ChannelDense,
    ChannelsLastFlatten,
    Concatenate,
    Lambda,
    SamePad2d,
)

Shape = tuple  # channels-last shape without the batch dimension; None for an unknown size


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
        return Add(), shapes[0]

    def _Concatenate(self, name, cfg, shapes):
        rank = len(shapes[0])
        if len(shapes) < 2 or any(len(s) != rank for s in shapes) or cfg.get("axis", -1) not in (-1, rank):
            raise self.fail(name, "Concatenate only joins two or more inputs along the channel axis")
        c = [s[-1] for s in shapes]
        return Concatenate(1), (*shapes[0][:-1], None if None in c else sum(c))


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
