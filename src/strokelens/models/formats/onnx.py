"""ONNX classifiers, run as published through onnxruntime (`load_onnx`).

The module `load_onnx` returns takes what strokelens's views give a model, ``(B, C, H, W)`` in
[0, 1], and returns logits ``(B, classes)``; it transposes to the graph's layout (channels last, as
Keras exports are, or a flat ``(B, H*W)`` vector) and cuts the batch into the graph's fixed size
when it has one. A final ``Softmax`` is dropped, so the outputs are logits; a model whose
probabilities come out of anything else is read with ``probabilities=True`` (outputs ``log p``,
which are logits: their softmax is ``p``). onnxruntime gives no gradients: the module says so
(``differentiable = False``, ``no_gradients``) and gradient methods refuse it before any work, unless
``convert=True`` turned it into a PyTorch module (`strokelens.models.formats.onnx_convert`).

Bad files stop with one `StrokelensError` line naming the file (`onnx_graph.read_onnx`): over
`MAX_BYTES` (checked before reading), a tensor declared over that size, a truncated or non-ONNX file,
an operator onnxruntime does not have.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from strokelens.errors import StrokelensError
from strokelens.models.formats.onnx_graph import (
    MAX_BYTES,
    GraphInput,
    class_names_of,
    drop_final_softmax,
    graph_input,
    read_onnx,
)
from strokelens.models.gradients import NoGradients

__all__ = ["MAX_BYTES", "OnnxModel", "load_onnx"]


def _first_line(exc: BaseException) -> str:
    """onnxruntime's message without its ``[ONNXRuntimeError] : 1 : FAIL :`` prefix, first line."""
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", str(exc).strip())
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return line if len(line) <= 200 else line[:197] + "..."


def session(model: bytes, label: str, providers: list[str] | None = None) -> Any:
    """An onnxruntime session for ``model`` (a serialized graph) on as many threads as PyTorch uses;
    its refusal (an operator it does not have, a malformed graph) as one `StrokelensError` line."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, options, providers=providers or ["CPUExecutionProvider"])
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
        self.providers = providers
        #: The graph onnxruntime runs (its final Softmax dropped), kept to rebuild the session when
        #: the module is copied or pickled (a session is neither).
        self.graph_bytes = proto.SerializeToString()
        self.session = session(self.graph_bytes, f"{path} (ONNX)", providers)
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

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["session"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.session = session(self.graph_bytes, f"{self.path} (ONNX)", self.providers)

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

    def attach_converted(self, proto: Any) -> None:
        """Run ``proto`` converted to PyTorch by onnx2torch from now on, once its logits on a probe
        batch agree with onnxruntime's (see `onnx_convert`); else a `StrokelensError` and no change."""
        from strokelens.models.formats.onnx_convert import TOLERANCE, to_torch

        label = f"{self.path} (ONNX)"
        converted = to_torch(proto, label)
        probe = torch.rand(2, *self.input_shape, generator=torch.Generator().manual_seed(0))
        expected = self.run(probe)
        try:
            with torch.no_grad():
                got = torch.cat([self._logits(converted(self._graph_tensor(c))) for c in self._chunks(probe)])
        except Exception as exc:  # the converted graph failing on the probe
            raise StrokelensError(f"{label}: the onnx2torch module fails on a probe input: {exc}") from None
        gap = float((got[: len(probe)] - expected).abs().max())
        if not gap <= TOLERANCE * max(1.0, float(expected.abs().max())):
            raise StrokelensError(
                f"{label}: the onnx2torch module's logits differ from onnxruntime's by {gap:.3g}; "
                "it is not used (gradient methods need a faithful conversion)"
            )
        self.converted, self.conversion_gap = converted, gap

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
        model.attach_converted(proto)
    return model.eval()
