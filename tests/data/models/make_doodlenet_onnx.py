"""Make ``doodlenet.onnx``: strokelens's DoodleNet (ml5's QuickDraw classifier, MIT) exported with
``torch.onnx.export(dynamo=True)`` (onnxscript), batch dimension free, its 345 class names in the
file's ``metadata_props`` (``class_names``, a JSON list). The output is DoodleNet's logits (strokelens
drops the exported softmax); tests add a Softmax and a channels-last input to it themselves.

    STROKELENS_HOME=../shared python tests/data/models/make_doodlenet_onnx.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import torch

from strokelens.models import load_model

OUT = Path(__file__).with_name("doodlenet.onnx")


def export(out: Path = OUT) -> Path:
    """Export DoodleNet to ``out``; the legacy exporter if the dynamo one fails."""
    model = load_model("doodlenet")
    x = torch.rand(2, 1, 28, 28)
    try:
        program = torch.onnx.export(
            model,
            (x,),
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            input_names=["image"],
            output_names=["logits"],
        )
        program.save(str(out))
    except Exception as exc:  # the dynamo exporter's failures vary by version
        print(f"dynamo export failed ({exc}); using the TorchScript exporter", file=sys.stderr)
        torch.onnx.export(
            model,
            (x,),
            str(out),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )
    proto = onnx.load(str(out))
    onnx.helper.set_model_props(
        proto,
        {
            "class_names": json.dumps(list(model.class_names)),
            "source": "strokelens DoodleNet (ml5 doodlenet, MIT), tests/data/models/make_doodlenet_onnx.py",
        },
    )
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


if __name__ == "__main__":
    print(export())
