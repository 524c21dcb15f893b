"""`TFJSModel`, the Keras graph rebuilt in PyTorch, and `load_tfjs`, which reads and builds one.

Keras ``Sequential`` models and functional ``Model`` graphs with one input and one output are built,
layer by layer through `LAYER_BUILDERS`, after the weights manifest has been checked and read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from strokelens.errors import StrokelensError
from strokelens.models.tfjs.fuse import fuse_graph
from strokelens.models.tfjs.layers import Shape, _Builder, _WeightStore
from strokelens.models.tfjs.manifest import read_model_json, read_weights


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
        #: The weights `fuse_for_inference` replaced or removed (as the files hold them), and the names
        #: of those it added: `published_state_dict` puts the files' weights back together.
        self._replaced: dict[str, torch.Tensor] = {}
        self._added: set[str] = set()

    def fuse_for_inference(self) -> TFJSModel:
        """Fold batch norms into convolutions and run activations in place where that changes no
        layer's output (`strokelens.models.tfjs.fuse`); in eval mode only. Returns the model."""
        before = self.state_dict(keep_vars=True)
        fuse_graph(self.layers, self.graph, self.output_name)
        after = self.state_dict(keep_vars=True)
        self._replaced |= {k: v.detach() for k, v in before.items() if after.get(k) is not v}
        self._added |= set(after) - set(before)
        return self

    def published_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights as the model's files hold them, by `state_dict` name: the same as `state_dict`
        unless `fuse_for_inference` folded batch norms (what identifies the model, e.g. to explainers
        trained for it)."""
        state = {k: v for k, v in self.state_dict().items() if k not in self._added}
        dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), None)
        return state | {
            k: v.to(dtype) if dtype is not None and v.is_floating_point() else v
            for k, v in self._replaced.items()
        }

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
    topology: dict,
    weights: dict[str, np.ndarray],
    source: Path,
    drop_final_softmax: bool = False,
    fuse: bool = True,
) -> TFJSModel:
    """Build a `TFJSModel` from a Keras ``modelTopology`` and its weights (see `load_tfjs`), in eval
    mode; ``fuse``: batch norms folded and activations in place where that changes no layer's output
    (`strokelens.models.tfjs.fuse`; off: every Keras layer as it is, e.g. to read a convolution's raw
    output)."""
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
    model = TFJSModel(modules, graph, input_name, output_name, tuple(in_shape[1:])).eval()
    if not fuse:
        return model
    # channels-last convolution kernels run faster on CPU (DoodleNet's forward 1.35x, Tiny Darknet's
    # 1.7x; the same numbers to float rounding, NCHW in and out)
    return model.fuse_for_inference().to(memory_format=torch.channels_last)


def load_tfjs(
    model_json: str | os.PathLike[str], drop_final_softmax: bool = False, fuse: bool = True
) -> TFJSModel:
    """Load a TF.js layers model from ``model_json`` and the shards beside it, in eval mode.

    ``drop_final_softmax`` removes a softmax at the output layer so that the model returns logits;
    ``fuse``: see `build_model`.
    """
    model_json = Path(model_json)
    spec = read_model_json(model_json)
    weights = read_weights(model_json, spec["weightsManifest"])
    return build_model(spec["modelTopology"], weights, model_json, drop_final_softmax, fuse)
