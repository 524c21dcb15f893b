"""``load_onnx(path, convert=True)``: the ONNX graph as a differentiable PyTorch module, by onnx2torch
(an optional extra: ``pip install 'strokelens[onnx-convert]'``), so gradient methods run on it.

onnx2torch 1.5.15 converts operators up to opset 17 and refuses ``Reshape(allowzero=1)``, which
``torch.onnx.export(dynamo=True)`` writes: the graph is brought down to opset 17 first and
``allowzero`` dropped where the target shape is a constant without zeros (there it changes nothing).
`OnnxModel.attach_converted` uses the module only where it agrees with onnxruntime on a probe batch
within `TOLERANCE` (relative to the logits' scale).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from strokelens.errors import StrokelensError

#: The newest opset onnx2torch converts.
MAX_OPSET = 17
#: Largest difference allowed between converted and onnxruntime logits, relative to their scale.
TOLERANCE = 1e-4


def _prepared(proto: Any) -> Any:
    """A copy of ``proto`` that onnx2torch takes: opset at most `MAX_OPSET`, no needless allowzero."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MAX_OPSET)
    if opset > MAX_OPSET:
        model = onnx.version_converter.convert_version(model, MAX_OPSET)
    constants = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] not in constants:
            continue
        shape = numpy_helper.to_array(constants[node.input[1]])
        if (shape != 0).all():
            kept = [a for a in node.attribute if a.name != "allowzero"]
            del node.attribute[:]
            node.attribute.extend(kept)
    return model


def to_torch(proto: Any, label: str) -> nn.Module:
    """``proto`` (the graph onnxruntime runs, its final Softmax already dropped) as a PyTorch
    module by onnx2torch, in eval mode; errors name the file (``label``)."""
    try:
        import onnx2torch
    except Exception as exc:  # ImportError, or onnx2torch's torchvision failing to load
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise StrokelensError(
            f"{label}: convert=True needs onnx2torch (pip install 'strokelens[onnx-convert]'): "
            f"{type(exc).__name__}: {first}"
        ) from None
    try:
        return onnx2torch.convert(_prepared(proto)).eval()
    except Exception as exc:  # onnx2torch raises NotImplementedError, KeyError, ... per operator
        raise StrokelensError(f"{label}: onnx2torch cannot convert it: {exc}") from None
