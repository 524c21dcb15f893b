"""TF.js ``model.json`` and its weight shards, checked and read without pickle.

The weights manifest (shapes, dtypes, byte counts against the shard sizes) is checked before any shard
is read; shards are read with ``np.frombuffer`` as little-endian float32, every value checked for
NaN/inf. Any problem raises `StrokelensError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from strokelens.errors import StrokelensError

#: model.json files larger than this are refused (the shared ones are under 40 KB).
MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024
#: Byte size of each manifest dtype this loader reads.
DTYPE_BYTES = {"float32": 4}


def read_model_json(path: str | os.PathLike[str]) -> dict:
    """Parse a TF.js ``model.json``; raise `StrokelensError` if it is missing or not a layers model."""
    path = Path(path)
    if not path.is_file():
        raise StrokelensError(f"missing model file {path}")
    if path.stat().st_size > MAX_MODEL_JSON_BYTES:
        raise StrokelensError(f"{path}: model.json is larger than {MAX_MODEL_JSON_BYTES} bytes")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StrokelensError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or "modelTopology" not in spec or "weightsManifest" not in spec:
        raise StrokelensError(f"{path}: not a TF.js layers model (needs modelTopology and weightsManifest)")
    fmt = spec.get("format", "layers-model")
    if fmt != "layers-model":
        raise StrokelensError(f"{path}: unsupported TF.js format {fmt!r} (only 'layers-model')")
    return spec


def _shard_path(folder: Path, name: object, model_json: Path) -> Path:
    """A shard's path inside ``folder``; refuse names that would leave it."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise StrokelensError(f"{model_json}: bad weight shard path {name!r}")
    return folder / name


def _entry_shape(entry: object, model_json: Path) -> tuple[str, tuple[int, ...], str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise StrokelensError(f"{model_json}: malformed weights manifest entry {entry!r}")
    name, shape, dtype = entry["name"], entry.get("shape"), entry.get("dtype", "float32")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise StrokelensError(f"{model_json}: weight {name!r} has a malformed shape {shape!r}")
    if dtype not in DTYPE_BYTES:
        raise StrokelensError(f"{model_json}: weight {name!r} has unsupported dtype {dtype!r}")
    if "quantization" in entry:
        raise StrokelensError(f"{model_json}: weight {name!r} is quantized; only float32 weights load")
    return name, tuple(shape), dtype


def read_weights(model_json: str | os.PathLike[str], manifest: object | None = None) -> dict[str, np.ndarray]:
    """Read every weight of a TF.js weights manifest into float32 arrays, keyed by weight name.

    Each group's files must together hold exactly the bytes the manifest declares, and every value
    must be finite; otherwise `StrokelensError` names the file.
    """
    model_json = Path(model_json)
    if manifest is None:
        manifest = read_model_json(model_json)["weightsManifest"]
    if not isinstance(manifest, list):
        raise StrokelensError(f"{model_json}: weightsManifest must be a list of groups")
    folder = model_json.parent
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) or not group["paths"]:
            raise StrokelensError(f"{model_json}: malformed weights manifest group {group!r}")
        paths = [_shard_path(folder, p, model_json) for p in group["paths"]]
        entries = [_entry_shape(e, model_json) for e in group.get("weights", [])]
        expected = sum(math.prod(shape) * DTYPE_BYTES[dt] for _, shape, dt in entries)
        for p in paths:
            if not p.is_file():
                raise StrokelensError(f"missing weight shard {p} (listed in {model_json})")
        sizes = [p.stat().st_size for p in paths]
        where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]}"
        if sum(sizes) != expected:
            state = "truncated" if sum(sizes) < expected else "too long"
            raise StrokelensError(
                f"weight shard {where} is {state}: {sum(sizes)} bytes, the manifest in "
                f"{model_json.name} declares {expected}"
            )
        data = b"".join(p.read_bytes() for p in paths)
        if len(data) != expected:  # changed while reading
            raise StrokelensError(f"weight shard {where}: read {len(data)} bytes, expected {expected}")
        offset = 0
        for name, shape, dtype in entries:
            count = math.prod(shape)
            arr = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(shape)
            offset += count * DTYPE_BYTES[dtype]
            if not np.isfinite(arr).all():
                raise StrokelensError(
                    f"weight shard {where} is corrupted: weight {name!r} has NaN or inf values"
                )
            if name in weights:
                raise StrokelensError(f"{model_json}: weight {name!r} appears twice in the manifest")
            weights[name] = arr.astype(np.float32)  # a writable, native-order copy
    return weights
