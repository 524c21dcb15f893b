"""The ONNX format object: ONNX is recognised from its protobuf fields (a ``ModelProto`` starts with
``ir_version``, field 1, and holds only ModelProto's fields), without importing onnx; loading goes
to `strokelens.models.formats.onnx.load_onnx` (onnxruntime), imported only then."""

from __future__ import annotations

from strokelens.errors import StrokelensError
from strokelens.models.formats.base import Loaded, LoadOptions, ModelFormat, Probe, first_line

#: ModelProto's field numbers and their wire types (0: varint, 2: length-delimited).
MODEL_PROTO_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
#: The ONNX IR versions there are (1 .. 11 in 2025), with room for new ones.
MAX_IR_VERSION = 32


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos
    return None


def looks_like_onnx(head: bytes, size: int) -> bool:
    """Whether ``head`` (a file's first bytes, of ``size`` in all) starts like a serialised
    ``ModelProto``: ``ir_version`` first, then only ModelProto's fields, lengths within the file."""
    if not head or head[0] != 0x08:
        return False
    first = _varint(head, 1)
    if first is None or not 1 <= first[0] <= MAX_IR_VERSION:
        return False
    pos, fields = first[1], 1
    while pos < len(head):
        tag = _varint(head, pos)
        if tag is None:
            break
        number, wire = tag[0] >> 3, tag[0] & 7
        if MODEL_PROTO_FIELDS.get(number) != wire:
            return False
        value = _varint(head, tag[1])
        if value is None:
            break
        pos = value[1] + (value[0] if wire == 2 else 0)
        if pos > size:
            return False
        fields += 1
    return fields >= 2


class OnnxFormat(ModelFormat):
    """An ONNX model, run by onnxruntime (`strokelens.models.formats.onnx`): perturbation methods
    work, gradient methods do not (``differentiable = False`` on the module)."""

    name = "ONNX model"
    differentiable = False

    def recognises(self, probe: Probe) -> bool:
        return not probe.is_dir and looks_like_onnx(probe.head, probe.size)

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        try:
            from strokelens.models.formats.onnx import load_onnx
        except ImportError as exc:
            raise self.fail(probe.path, f"ONNX support is not available ({first_line(exc)})") from None
        try:
            module = load_onnx(probe.path)
        except StrokelensError:
            raise
        except Exception as exc:  # onnxruntime's own errors on a bad file
            raise self.fail(probe.path, f"it does not load ({first_line(exc)})") from None
        shape = getattr(module, "input_shape", None)
        return Loaded(module, tuple(shape) if shape else None, getattr(module, "class_names", None))
