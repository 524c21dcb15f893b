"""Model file formats, each an object (`ModelFormat`) that knows its name in words, recognises
itself from a file's content (magic bytes, zip members, protobuf fields: never the extension, and
never more than the first bytes and a zip's directory) and loads:

- `KerasH5Format` (``model.save("m.h5")``), `KerasZipFormat` (``.keras``) and `TFJSFormat`
  (``model.json``): Keras topologies built in PyTorch by one builder, differentiable;
- `TorchScriptFormat` (``torch.jit.save``), `TorchPickleFormat` (``torch.save(model)``: runs code,
  so only when trusted) and `StateDictFormat` (weights only: refused with the way to load them);
- `OnnxFormat` (run by onnxruntime; not differentiable).

`sniff` picks the format of a path; `FORMATS` lists them in the order they are tried.
"""

from __future__ import annotations

from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.models.formats.base import CLI, PYTHON, Loaded, LoadOptions, ModelFormat, Probe, Wording
from strokelens.models.formats.keras import KerasH5Format, KerasZipFormat, TFJSFormat
from strokelens.models.formats.onnx_file import OnnxFormat
from strokelens.models.formats.torch_files import (
    StateDictFormat,
    TorchPickleFormat,
    TorchScriptFormat,
    call_factory,
)

#: Every format, in the order `sniff` tries them (a state dict before the pickle it also is).
FORMATS: tuple[ModelFormat, ...] = (
    TFJSFormat(),
    KerasH5Format(),
    KerasZipFormat(),
    TorchScriptFormat(),
    StateDictFormat(),
    TorchPickleFormat(),
    OnnxFormat(),
)


def sniff(path: Path) -> tuple[ModelFormat, Probe]:
    """The format of the model file (or folder) ``path``, from its content, and what was read of it;
    `StrokelensError` names the file and the formats strokelens reads when none fits."""
    probe = Probe(path)
    for fmt in FORMATS:
        if fmt.recognises(probe):
            return fmt, probe
    if probe.is_dir:
        raise StrokelensError(f"{path}: a folder without a model.json (TF.js layers model)")
    start = probe.head[:8]
    what = "an empty file" if not start else f"a file starting {start!r}"
    if start.startswith(b"PK\x03\x04") and probe.zip_names is None:
        n = int.from_bytes(probe.head[26:28], "little")
        first = probe.head[30 : 30 + n].decode("utf-8", "replace")
        what = f"a damaged or truncated zip file, first member {first!r}"
    raise StrokelensError(
        f"{path}: not a model file strokelens reads ({what}); it reads: " + ", ".join(f.name for f in FORMATS)
    )


__all__ = [
    "CLI",
    "FORMATS",
    "PYTHON",
    "KerasH5Format",
    "KerasZipFormat",
    "LoadOptions",
    "Loaded",
    "ModelFormat",
    "OnnxFormat",
    "Probe",
    "StateDictFormat",
    "TFJSFormat",
    "TorchPickleFormat",
    "TorchScriptFormat",
    "Wording",
    "call_factory",
    "sniff",
]
