"""``load_onnx(path, convert=True)``: the ONNX graph as a differentiable PyTorch module, by onnx2torch
(an optional extra: ``pip install 'strokelens[onnx-convert]'``), so gradient methods run on it.

onnx2torch 1.5.15 converts operators up to opset 17 and refuses ``Reshape(allowzero=1)``, which
``torch.onnx.export(dynamo=True)`` writes: the graph is brought down to opset 17 first and
``allowzero`` dropped where the target shape is a constant without zeros (there it changes nothing).
The converted module must agree with onnxruntime on a probe batch within `TOLERANCE`, or it is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from strokelens.errors import StrokelensError

if TYPE_CHECKING:
    from strokelens.models.formats.onnx import OnnxModel

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


def attach_converted(model: OnnxModel, proto: Any) -> None:
    """Convert ``proto`` (the graph ``model`` runs, its final Softmax already dropped) and make it
    ``model.converted`` after checking it against onnxruntime; errors name the file."""
    label = f"{model.path} (ONNX)"
    try:
        import onnx2torch
    except Exception as exc:  # ImportError, or onnx2torch's torchvision failing to load
        raise StrokelensError(
            f"{label}: convert=True needs onnx2torch (pip install 'strokelens[onnx-convert]'): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    try:
        converted = onnx2torch.convert(_prepared(proto)).eval()
    except Exception as exc:  # onnx2torch raises NotImplementedError, KeyError, ... per operator
        raise StrokelensError(f"{label}: onnx2torch cannot convert it: {exc}") from None
    probe = torch.rand(2, *model.input_shape, generator=torch.Generator().manual_seed(0))
    expected = model.run(probe)
    model.converted = converted
    try:
        with torch.no_grad():
            got = model(probe)
    except Exception as exc:  # the converted graph failing on the probe
        model.converted = None
        raise StrokelensError(f"{label}: the onnx2torch module fails on a probe input: {exc}") from None
    gap = float((got - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    if not gap <= TOLERANCE * scale:
        model.converted = None
        raise StrokelensError(
            f"{label}: the onnx2torch module's logits differ from onnxruntime's by {gap:.3g}; "
            "it is not used (gradient methods need a faithful conversion)"
        )
    model.conversion_gap = gap
