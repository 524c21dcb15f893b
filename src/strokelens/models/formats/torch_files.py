"""PyTorch's files, told apart by content: a TorchScript archive (a zip with ``code/`` and
``constants.pkl``), a whole-model pickle (``torch.save(model)``: a zip whose ``data.pkl`` names the
model's classes, or a legacy pickle starting with the protocol byte ``0x80``) and a state dict
(weights only: ``torch.save(model.state_dict())`` or safetensors); and ``module:factory``.

A pickle runs code from the file when it loads, so it loads only when the caller says it trusts the
file. Whether a ``torch.save`` file holds a whole model or only tensors is read from the globals its
pickle names (`pickle_globals`), without unpickling anything.
"""

from __future__ import annotations

import importlib
import io
import pickletools
import struct
import warnings
import zipfile

import torch
from torch import nn
from torch.serialization import SourceChangeWarning

from strokelens.errors import StrokelensError
from strokelens.models.formats.base import (
    Loaded,
    LoadOptions,
    ModelFormat,
    Probe,
    current_folder_importable,
    first_line,
)

#: Globals a pickle of tensors names (``torch FloatStorage``, ``torch._utils _rebuild_tensor_v2``,
#: ``collections OrderedDict``): anything else (a model class, ``torch.nn.modules...``) is code.
TENSOR_MODULES = ("torch", "torch._utils", "collections", "torch.serialization")
#: At most this much of a pickle's structure is read to tell a model from a state dict.
MAX_PICKLE_SCAN = 64 * 1024 * 1024
#: At most this much of a legacy (not zip) ``torch.save`` file is read to tell the two apart.
MAX_LEGACY_SCAN = 16 * 1024 * 1024
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}


def pickle_globals(data: io.BufferedIOBase, pickles: int = 1) -> set[str] | None:
    """The ``module name`` globals the first ``pickles`` pickles in ``data`` name, read opcode by
    opcode (nothing is unpickled); None when the bytes are not a pickle."""
    found: set[str] = set()
    try:
        for _ in range(pickles):
            strings: list[str | None] = []
            memo: dict[int, str | None] = {}
            for op, arg, _pos in pickletools.genops(data):
                if op.name in _STRING_OPS:
                    strings.append(str(arg))
                    continue
                if op.name == "GLOBAL":
                    found.add(str(arg))
                elif op.name == "STACK_GLOBAL":
                    mod, name = (strings[-2:] if len(strings) >= 2 else [None, None])[:2]
                    found.add(f"{mod} {name}" if mod and name else "? ?")
                elif op.name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
                    key = len(memo) if op.name == "MEMOIZE" else int(arg)
                    memo[key] = strings[-1] if strings else None
                    continue
                elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                    strings.append(memo.get(int(arg)))
                    continue
                strings.append(None)
    except (ValueError, EOFError, struct.error, UnicodeDecodeError):
        return found or None
    return found


def _only_tensors(names: set[str] | None) -> bool:
    return names is not None and all(n.split(" ")[0] in TENSOR_MODULES for n in names)


def _torch_pickle_globals(probe: Probe) -> set[str] | None:
    """The globals of a ``torch.save`` file's object pickle (zip: ``data.pkl``; legacy: the fourth
    pickle, after the magic number, protocol and system info)."""
    if probe.zip_names is not None:
        member = next((n for n in probe.zip_names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if member is None:
            return None
        with zipfile.ZipFile(probe.path) as z:
            info = z.getinfo(member)
            if info.file_size > MAX_PICKLE_SCAN:
                return {"? ?"}
            return pickle_globals(io.BytesIO(z.read(member)))
    with probe.path.open("rb") as f:  # a legacy file's structure comes first; its tensors follow
        return pickle_globals(io.BytesIO(f.read(MAX_LEGACY_SCAN)), pickles=4)


def _is_torch_pickle_head(head: bytes) -> bool:
    return len(head) > 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _is_safetensors(probe: Probe) -> bool:
    if len(probe.head) < 10:
        return False
    (n,) = struct.unpack("<Q", probe.head[:8])
    return 2 <= n <= probe.size - 8 and probe.head[8:10] in (b'{"', b"{}")


class TorchScriptFormat(ModelFormat):
    """``torch.jit.script(model).save(path)`` or ``torch.jit.trace``: read by ``torch.jit.load``,
    which unpickles no Python objects."""

    name = "TorchScript archive"

    def recognises(self, probe: Probe) -> bool:
        return probe.zip_has("/code/") or probe.zip_has("/constants.pkl")

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        try:
            return Loaded(torch.jit.load(str(probe.path), map_location="cpu"))
        except Exception as exc:  # torch raises RuntimeError, ValueError ... for a damaged archive
            raise self.fail(probe.path, f"it does not load ({first_line(exc)})") from None


class StateDictFormat(ModelFormat):
    """Weights only: ``torch.save(model.state_dict())`` or a safetensors file. It has no
    architecture, so it loads through a factory that builds the model and loads the weights."""

    name = "safetensors/state dict"

    def recognises(self, probe: Probe) -> bool:
        if _is_safetensors(probe):
            return True
        if probe.zip_has("/data.pkl") or _is_torch_pickle_head(probe.head):
            return _only_tensors(_torch_pickle_globals(probe))
        return False

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        raise self.fail(
            probe.path,
            "it holds weights only, not the model's architecture; load it through a factory, "
            f"{options.wording.factory}, whose make_model() builds the network and loads these weights "
            "(see docs/formats.md)",
        )


class TorchPickleFormat(ModelFormat):
    """``torch.save(model)``: a pickle naming the model's classes by module path. Loading it runs
    code, so only with ``trust_pickle``; the current folder is importable while it loads."""

    name = "PyTorch pickle"

    def recognises(self, probe: Probe) -> bool:
        return probe.zip_has("/data.pkl") or _is_torch_pickle_head(probe.head)

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        path = probe.path
        if not options.trust_pickle:
            raise self.fail(
                path,
                f"loading it runs code the file names; pass {options.wording.trust_pickle} if you trust it",
            )
        note = f"{path}: loading a PyTorch pickle runs the code it names; do this only for files you trust"
        options.warn(note)
        with current_folder_importable():
            try:
                with warnings.catch_warnings():
                    # A legacy (pre-1.6) pickle keeps the source of each class it names, and torch's
                    # own layers have changed since: noise, one warning a layer type. A change in
                    # the model's own class is news and still warns.
                    warnings.filterwarnings(
                        "ignore", message=r"source code of class 'torch\.", category=SourceChangeWarning
                    )
                    obj = torch.load(str(path), map_location="cpu", weights_only=False)
            except ModuleNotFoundError as exc:
                raise self.fail(
                    path,
                    f"its model class lives in module {exc.name!r}, which cannot be imported; run from "
                    "the model's own folder (the current folder is searched) or add it to PYTHONPATH",
                ) from None
            except AttributeError as exc:
                raise self.fail(path, f"a class it names is missing ({first_line(exc)})") from None
            except Exception as exc:  # a damaged or truncated file
                raise self.fail(path, f"it does not load ({type(exc).__name__}: {first_line(exc)})") from None
        if not isinstance(obj, nn.Module):
            raise self.fail(
                path,
                f"it holds a {type(obj).__name__}, not a model; load it through a factory, "
                + options.wording.factory,
            )
        return Loaded(obj)


def call_factory(spec: str) -> nn.Module:
    """``package.module:factory`` called with no arguments; modules in the current folder import."""
    module_name, func = spec.split(":")
    with current_folder_importable():
        try:
            factory = getattr(importlib.import_module(module_name), func)
        except ModuleNotFoundError as exc:
            raise StrokelensError(
                f"{spec}: cannot import {module_name} (no module named {exc.name!r} in the current "
                "folder or on the Python path)"
            ) from None
        except ImportError as exc:
            raise StrokelensError(f"{spec}: cannot import {module_name} ({first_line(exc)})") from None
        except AttributeError:
            raise StrokelensError(f"{spec}: {module_name} has no {func}") from None
        try:
            model = factory()
        except StrokelensError:
            raise
        except Exception as exc:  # the user's factory failing is reported as one line
            raise StrokelensError(
                f"{spec}: the factory raised {type(exc).__name__}: {first_line(exc)}"
            ) from None
    if not isinstance(model, nn.Module):
        raise StrokelensError(f"{spec}: the factory returned a {type(model).__name__}, not an nn.Module")
    return model
