"""ONNX classifiers, run as published through onnxruntime (`load_onnx`).

The module `load_onnx` returns takes what strokelens's views give a model, ``(B, C, H, W)`` in
[0, 1], and returns logits ``(B, classes)``; it transposes to the graph's layout (channels last, as
Keras exports are, or a flat ``(B, H*W)`` vector) and cuts the batch into the graph's fixed size
when it has one. A final ``Softmax`` is dropped, so the outputs are logits; a model whose
probabilities come out of anything else is read with ``probabilities=True`` (outputs ``log p``,
which are logits: their softmax is ``p``). onnxruntime gives no gradients: the module says so
(``differentiable = False``, ``no_gradients``) and gradient methods refuse it before any work, unless
``convert=True`` turned it into a PyTorch module (`strokelens.models.formats.onnx_convert`).

Bad files stop with one `StrokelensError` line naming the file: over `MAX_BYTES` (checked before
reading), a tensor declared over that size, a truncated or non-ONNX file, an operator onnxruntime
does not have.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from strokelens.errors import StrokelensError
from strokelens.models.gradients import NoGradients

#: The largest ONNX file (with its external data) read: protobuf's own limit is 2 GiB.
MAX_BYTES = 2 * 1024**3
#: Metadata keys that may hold class names, in the order tried.
CLASS_KEYS = ("class_names", "classes", "labels", "names")
#: Nodes that pass a tensor through unchanged, looked through to find a final Softmax.
_PASS_THROUGH = ("Identity",)


def _first_line(exc: BaseException) -> str:
    """onnxruntime's message without its ``[ONNXRuntimeError] : 1 : FAIL :`` prefix, first line."""
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", str(exc).strip())
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return line if len(line) <= 200 else line[:197] + "..."


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


def session(model: Any, label: str, providers: list[str] | None = None) -> Any:
    """An onnxruntime session for ``model`` on as many threads as PyTorch uses; its refusal (an
    operator it does not have, a malformed graph) as one `StrokelensError` line."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            model.SerializeToString(), options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NotImplemented types
        raise StrokelensError(
            f"{label}: onnxruntime cannot run this ONNX model: {_first_line(exc)}"
        ) from None


class _Runtime(torch.autograd.Function):
    """onnxruntime's forward pass inside autograd: the output is a leaf of no graph, and asking for
    its gradient says why there is none (instead of PyTorch's "does not require grad")."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, model: OnnxModel) -> torch.Tensor:  # type: ignore[override]
        ctx.model = model
        return model.run(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None]:  # type: ignore[override]
        note = ctx.model.no_gradients
        raise StrokelensError(f"{note.reason}; {note.remedy}")


class OnnxModel(nn.Module):
    """An ONNX classifier as strokelens's views call a model: ``(B, C, H, W)`` in, logits out.

    Attributes the views and `strokelens.wrap` read: ``class_names`` (from the file's metadata, or
    None for the caller to fill), ``input_kind`` (``raster-sketch`` for 1 channel, ``image`` for 3),
    ``input_size``, ``input_shape`` ``(C, H, W)``; and ``differentiable``, ``no_gradients``, ``path``,
    ``dropped_softmax``. A buffer holds the file's SHA-256, so learned explainers tell models apart.
    """

    def __init__(
        self,
        path: Path,
        proto: Any,
        data: bytes,
        graph: GraphInput,
        input_shape: tuple[int, int, int],
        probabilities: bool = False,
        providers: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.graph = graph
        self.dropped_softmax = drop_final_softmax(proto)
        self.probabilities = probabilities
        self.session = session(proto, f"{path} (ONNX)", providers)
        self.output_name = self.session.get_outputs()[0].name
        self.input_shape = input_shape
        c, h, w = self.input_shape
        self.input_size = h if h == w else None
        self.input_kind = "image" if c == 3 else "raster-sketch"
        self.class_names = class_names_of(proto)
        #: A PyTorch module made from the graph by ``convert=True``; None: onnxruntime runs it.
        self.converted: nn.Module | None = None
        #: Largest logit difference of the converted module from onnxruntime on a probe batch.
        self.conversion_gap: float | None = None
        self.register_buffer("sha256", torch.tensor(list(hashlib.sha256(data).digest()), dtype=torch.uint8))

    @property
    def differentiable(self) -> bool:
        """Whether gradients flow: only through a converted module."""
        return self.converted is not None

    @property
    def no_gradients(self) -> NoGradients:
        return NoGradients(
            f"this ONNX model ({self.path.name}) runs in onnxruntime without them",
            "load it with convert=True (needs onnx2torch: pip install 'strokelens[onnx-convert]') "
            "for a differentiable PyTorch module",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise StrokelensError(
                f"{self.path} (ONNX) takes (B, {', '.join(map(str, self.input_shape))}) images, "
                f"got {tuple(x.shape)}"
            )
        if self.converted is None:
            return _Runtime.apply(x, self)
        parts = [self._logits(self.converted(self._graph_tensor(c))) for c in self._chunks(x)]
        return torch.cat(parts)[: len(x)].to(x.dtype)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, classes)`` from onnxruntime for ``x`` ``(B, C, H, W)``, on ``x``'s device."""
        outs = []
        for chunk in self._chunks(x):
            try:
                (y,) = self.session.run([self.output_name], {self.graph.name: self.graph.feed(chunk)})
            except Exception as exc:  # onnxruntime's own error types, e.g. a failed allocation
                raise StrokelensError(
                    f"{self.path} (ONNX): onnxruntime failed on a {tuple(chunk.shape)} input: "
                    f"{_first_line(exc)}"
                ) from None
            outs.append(self._logits(torch.from_numpy(np.asarray(y, dtype=np.float32))))
        return torch.cat(outs)[: len(x)].to(device=x.device, dtype=x.dtype)

    def _chunks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x`` cut into the graph's fixed batch size (the last chunk padded with zeros), or whole."""
        size = self.graph.batch
        if size is None or len(x) == size:
            return [x]
        pad = -len(x) % size
        if pad:
            x = torch.cat([x, x.new_zeros(pad, *x.shape[1:])])
        return list(x.split(size))

    def _graph_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the graph's layout, as a differentiable tensor (for a converted module)."""
        if self.graph.rank == 2:
            return x.reshape(len(x), -1)
        if self.graph.rank == 3:
            return x[:, 0]
        return x.permute(0, 2, 3, 1) if self.graph.channels_last else x

    def _logits(self, y: torch.Tensor) -> torch.Tensor:
        """The graph's output as ``(B, classes)`` logits (``log p`` for ``probabilities``)."""
        y = y.reshape(len(y), -1).float()
        return y.clamp_min(1e-12).log() if self.probabilities else y


def load_onnx(
    path: Path,
    *,
    convert: bool = False,
    input_size: int | None = None,
    channels_last: bool | None = None,
    probabilities: bool = False,
    providers: list[str] | None = None,
    max_bytes: int = MAX_BYTES,
) -> OnnxModel:
    """An ONNX classifier file as a module strokelens explains (see `OnnxModel`), in eval mode.

    ``convert``: also turn the graph into a PyTorch module with onnx2torch (an optional extra), so
    gradient methods run; its outputs are checked against onnxruntime's first. ``input_size``: the
    height and width when the graph leaves them open. ``channels_last``: the graph's layout when its
    input shape does not tell (default: guessed from where the 1 or 3 channels are).
    ``probabilities``: the outputs are probabilities not made by a final Softmax node (read as
    ``log p``). ``providers``: onnxruntime's execution providers (default: CPU). ``max_bytes``: the
    largest file read."""
    path = Path(path)
    proto, data = read_onnx(path, max_bytes)
    try:
        graph = graph_input(proto, channels_last)
        shape = graph.shape(input_size)
    except StrokelensError as exc:
        raise StrokelensError(f"{path} (ONNX): {exc}") from None
    model = OnnxModel(path, proto, data, graph, shape, probabilities, providers)
    if convert:
        from strokelens.models.formats.onnx_convert import attach_converted

        attach_converted(model, proto)
    return model.eval()
