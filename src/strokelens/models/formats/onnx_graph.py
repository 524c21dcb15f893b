"""Reading an ONNX file for `strokelens.models.formats.onnx`: size limits checked before and after
parsing, the graph's image input and its layout, a final Softmax to drop, class names from the file's
metadata. Errors are `StrokelensError` lines; `read_onnx` names the file and the format."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from strokelens.errors import StrokelensError

#: The largest ONNX file (with its external data) read: protobuf's own limit is 2 GiB.
MAX_BYTES = 2 * 1024**3
#: Metadata keys that may hold class names, in the order tried.
CLASS_KEYS = ("class_names", "classes", "labels", "names")
#: Nodes that pass a tensor through unchanged, looked through to find a final Softmax.
_PASS_THROUGH = ("Identity",)


@dataclass(frozen=True)
class GraphInput:
    """The graph's image input: its ``name``, ``dims`` (None where symbolic), numpy ``dtype``, and
    how a ``(B, C, H, W)`` tensor reaches it (``channels_last``; ``rank`` 2 is a flat vector)."""

    name: str
    dims: tuple[int | None, ...]
    dtype: np.dtype
    channels_last: bool

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def batch(self) -> int | None:
        """The graph's fixed batch size, or None when the batch dimension is free."""
        return self.dims[0]

    def shape(self, input_size: int | None) -> tuple[int, int, int]:
        """``(C, H, W)`` as strokelens gives it; ``input_size`` fills a free height and width."""
        if self.rank == 2:
            side = round((self.dims[1] or 0) ** 0.5)
            if not self.dims[1] or side * side != self.dims[1]:
                raise StrokelensError(f"a flat input of {self.dims[1]} values is not a square image")
            return 1, side, side
        if self.rank == 3:
            c, h, w = 1, self.dims[1], self.dims[2]
        elif self.channels_last:
            h, w, c = self.dims[1:]
        else:
            c, h, w = self.dims[1:]
        if c is None:
            raise StrokelensError("the graph leaves its number of channels open")
        if h is None or w is None:
            if input_size is None:
                raise StrokelensError("the graph leaves the input's height and width open; pass input_size")
            h, w = h or input_size, w or input_size
        return c, h, w

    def feed(self, x: torch.Tensor) -> np.ndarray:
        """``x`` ``(B, C, H, W)`` in the graph's layout and dtype."""
        if self.rank == 2:
            x = x.reshape(len(x), -1)
        elif self.rank == 3:
            x = x[:, 0]
        elif self.channels_last:
            x = x.permute(0, 2, 3, 1)
        return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=self.dtype)


def _channels_last(dims: tuple[int | None, ...], override: bool | None) -> bool:
    """Whether a rank-4 input is ``(N, H, W, C)``: its last dimension holds 1 or 3 channels and its
    second does not (``override``: the caller knows)."""
    if override is not None or len(dims) != 4:
        return bool(override)
    return dims[3] in (1, 3) and dims[1] not in (1, 3)


def graph_input(model: Any, channels_last: bool | None = None) -> GraphInput:
    """The one input of ``model`` (an ``onnx.ModelProto``) that is not an initializer."""
    from onnx import helper

    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise StrokelensError(f"the graph takes {len(inputs)} inputs; strokelens explains one-input models")
    tensor = inputs[0].type.tensor_type
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim
    )
    if len(dims) not in (2, 3, 4):
        raise StrokelensError(f"the graph's input has rank {len(dims)}; expected an image (rank 2, 3 or 4)")
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    if dtype.kind != "f":
        raise StrokelensError(f"the graph's input is {dtype}, not floating point")
    return GraphInput(inputs[0].name, dims, dtype, _channels_last(dims, channels_last))


def drop_final_softmax(model: Any) -> bool:
    """Make the graph output the logits that a final ``Softmax`` (over the last axis) turns into
    probabilities, in place; whether there was one."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    name = graph.output[0].name
    node = producers.get(name)
    while node is not None and node.op_type in _PASS_THROUGH:
        node = producers.get(node.input[0])
    if node is None or node.op_type != "Softmax":
        return False
    axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
    if axis not in (-1, 1):
        return False
    graph.output[0].name = node.input[0]
    graph.output[0].type.tensor_type.ClearField("shape")
    return True


def class_names_of(model: Any) -> list[str] | None:
    """Class names from the model's ``metadata_props`` (a JSON list, a JSON or Python-literal
    mapping from index to name, or one name a line), or None."""
    props = {p.key: p.value for p in model.metadata_props}
    for key in CLASS_KEYS:
        if key not in props:
            continue
        text = props[key]
        try:
            value: Any = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)  # literals only: Ultralytics writes a Python dict
            except (ValueError, SyntaxError):
                value = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if isinstance(value, dict):
            value = [value[k] for k in sorted(value, key=lambda k: int(k))]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    return None


def _declared_bytes(model: Any) -> int:
    """The bytes the graph's initializers and constants declare (their shapes, not their data)."""
    from onnx import helper

    def size(t: Any) -> int:
        n = 1
        for d in t.dims:
            n *= max(int(d), 0)
        return n * np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize

    total = sum(size(t) for t in model.graph.initializer)
    for node in model.graph.node:
        total += sum(size(a.t) for a in node.attribute if a.HasField("t"))
    return total


def _external_bytes(model: Any, folder: Path) -> int:
    """The size of the external data files the graph names, checked to lie beside the model."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    total, seen = 0, set()
    for t in model.graph.initializer:
        if not uses_external_data(t):
            continue
        location = ExternalDataInfo(t).location
        path = (folder / location).resolve()
        if folder.resolve() not in path.parents:
            raise StrokelensError(f"external data {location!r} lies outside the model's folder")
        if not path.is_file():
            raise StrokelensError(f"external data file {location!r} is missing")
        if path not in seen:
            seen.add(path)
            total += path.stat().st_size
    return total


def read_onnx(path: Path, max_bytes: int = MAX_BYTES) -> tuple[Any, bytes]:
    """The checked ``onnx.ModelProto`` of ``path`` (external data loaded) and its file's bytes.
    Errors name the file and say it is ONNX; nothing over ``max_bytes`` is read."""
    import onnx
    from google.protobuf.message import DecodeError

    label = f"{path} (ONNX)"
    if not path.is_file():
        raise StrokelensError(f"{label}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise StrokelensError(f"{label}: {size:,} bytes, over the {max_bytes:,}-byte limit for ONNX files")
    data = path.read_bytes()
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise StrokelensError(f"{label}: not a readable ONNX model, truncated or damaged ({exc})") from None
    if not model.graph.node or not model.graph.output:
        raise StrokelensError(f"{label}: the file holds no ONNX graph (truncated, or not an ONNX model)")
    try:
        external = _external_bytes(model, path.parent)
    except StrokelensError as exc:
        raise StrokelensError(f"{label}: {exc}") from None
    declared = _declared_bytes(model)
    if max(declared, size + external) > max_bytes:
        raise StrokelensError(
            f"{label}: its tensors declare {max(declared, size + external):,} bytes, over the "
            f"{max_bytes:,}-byte limit for ONNX models"
        )
    if external:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(path.parent))
    return model, data
