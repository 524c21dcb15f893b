"""Keras models as files: a Keras HDF5 file (``model.save("m.h5")``), a ``.keras`` zip (Keras 3's
own format) and a TF.js layers ``model.json``. All three hold a Keras topology, built into PyTorch by
the one Keras-layer builder (`strokelens.models.tfjs.build_model`); gradients flow through it.

Nothing in the files is executed. HDF5 is read with h5py: the topology is JSON in the root attribute
``model_config``, the weights sit under ``model_weights/<layer>/`` as the layer's ``weight_names``
attribute lists them. A ``.keras`` zip holds ``config.json`` and ``model.weights.h5``, where a layer's
weights are ``layers/<path>/vars/0, 1, ...`` in the layer's own order (kernel, bias; gamma, beta,
moving mean, moving variance). Keras 3 configs (``batch_shape``, ``keras_history`` inbound nodes) are
rewritten to the Keras 2 form the builder reads.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from strokelens.errors import StrokelensError
from strokelens.models.formats.base import Loaded, LoadOptions, ModelFormat, Probe, first_line

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: A ``.keras`` zip's config.json larger than this is refused.
MAX_CONFIG_BYTES = 64 * 1024 * 1024


def keras3_to_keras2(config: dict) -> dict:
    """A Keras 3 model config in the Keras 2 form the builder reads (a Keras 2 config is unchanged)."""
    body = config.get("config")
    if not isinstance(body, dict):
        return config
    body = dict(body)
    for key in ("input_layers", "output_layers"):
        value = body.get(key)
        if isinstance(value, list) and value and isinstance(value[0], str):
            body[key] = [value]
    if isinstance(body.get("layers"), list):
        body["layers"] = [_layer3to2(layer) for layer in body["layers"]]
    return {**config, "config": body}


def _layer3to2(layer: Any) -> Any:
    if not isinstance(layer, dict) or not isinstance(layer.get("config", {}), dict):
        return layer
    layer, cfg = dict(layer), dict(layer.get("config", {}))
    if "batch_shape" in cfg and "batch_input_shape" not in cfg:
        cfg["batch_input_shape"] = cfg["batch_shape"]
    layer["config"] = cfg
    nodes = layer.get("inbound_nodes")
    if isinstance(nodes, list) and nodes and all(isinstance(n, dict) for n in nodes):
        layer["inbound_nodes"] = [[[*h[:3], {}] for h in _histories(n.get("args", []))] for n in nodes]
    return layer


def _histories(value: Any) -> list[list]:
    """The ``keras_history`` (layer, node, tensor) of every Keras 3 tensor in a call's arguments."""
    if isinstance(value, dict):
        hist = value.get("config", {}).get("keras_history") if isinstance(value.get("config"), dict) else None
        return [list(hist)] if isinstance(hist, list) else []
    if isinstance(value, list):
        return [h for v in value for h in _histories(v)]
    return []


def _model_input(model: Any, source: Path, fail: Any) -> tuple[int, ...]:
    shape = tuple(model.input_shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or shape[1] is None or shape[1] != shape[2]:
        raise fail(source, f"expected a square 1- or 3-channel image input, got {shape}")
    return shape


def _build(fmt: ModelFormat, config: Any, weights: dict[str, np.ndarray], source: Path) -> Any:
    from strokelens.models.tfjs import build_model

    if not isinstance(config, dict):
        raise fmt.fail(source, "the model config is not a JSON object")
    try:
        return build_model(keras3_to_keras2(config), weights, source, drop_final_softmax=True)
    except StrokelensError as exc:  # the builder's errors, named as this format's
        raise fmt.named(source, exc) from None


def _array(fmt: ModelFormat, ds: Any, source: Path, name: str) -> np.ndarray:
    arr = np.asarray(ds[()], dtype=np.float32)
    if not np.isfinite(arr).all():
        raise fmt.fail(source, f"weight {name!r} has NaN or inf values")
    return arr


def _class_names_attr(attrs: Any) -> list[str] | None:
    """Class names a file stores in an attribute ``class_names`` (a JSON list or an array)."""
    value = attrs.get("class_names")
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = value.splitlines()
    names = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.atleast_1d(value)]
    return names or None


class KerasH5Format(ModelFormat):
    """``model.save("model.h5")`` (Keras 2 or 3): the topology in the ``model_config`` attribute."""

    name = "Keras HDF5 file"

    def recognises(self, probe: Probe) -> bool:
        return any(probe.head[o : o + 8] == HDF5_MAGIC for o in (0, 512, 1024, 2048))

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        import h5py

        path = probe.path
        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
                if raw is None:
                    weights_only = "layers" in f or "model_weights" in f
                    saved = "a weights file (save_weights)" if weights_only else "a plain HDF5 file"
                    raise self.fail(
                        path,
                        f"it has no model_config attribute, so no architecture ({saved}); save the "
                        "whole model with model.save(), or build it in a factory",
                    )
                config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
                group = f.get("model_weights", f)
                weights = self._weights(group, path)
                names = _class_names_attr(f.attrs)
        except StrokelensError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise self.fail(path, f"it is damaged or truncated ({first_line(exc)})") from None
        model = _build(self, config, weights, path)
        return Loaded(model, _model_input(model, path, self.fail), names)

    def _weights(self, group: Any, source: Path) -> dict[str, np.ndarray]:
        weights = {}
        for layer in group.attrs.get("layer_names", []):
            layer = layer.decode("utf-8") if isinstance(layer, bytes) else str(layer)
            g = group[layer]
            for wname in g.attrs.get("weight_names", []):
                wname = wname.decode("utf-8") if isinstance(wname, bytes) else str(wname)
                key = wname.rsplit("/", 1)[-1].split(":")[0]  # "seq/conv2d/kernel:0" -> kernel
                weights[f"{layer}/{key}"] = _array(self, g[wname], source, wname)
        return weights


#: The variables a ``.keras`` file stores for a layer, in its order, by class (those its config has).
def _var_names(kind: str, cfg: dict) -> list[str]:
    if kind in ("Conv2D", "Dense"):
        return ["kernel", "bias"] if cfg.get("use_bias", True) else ["kernel"]
    if kind == "BatchNormalization":
        return [
            *(["gamma"] if cfg.get("scale", True) else []),
            *(["beta"] if cfg.get("center", True) else []),
            "moving_mean",
            "moving_variance",
        ]
    return []


class KerasZipFormat(ModelFormat):
    """``model.save("model.keras")`` (Keras 3): a zip of ``config.json`` and ``model.weights.h5``."""

    name = "Keras .keras archive"

    def recognises(self, probe: Probe) -> bool:
        names = set(probe.zip_names or [])
        return {"config.json", "model.weights.h5"} <= names

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        import h5py

        path = probe.path
        try:
            with zipfile.ZipFile(path) as z:
                if z.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                    raise self.fail(path, f"config.json is larger than {MAX_CONFIG_BYTES} bytes")
                config = json.loads(z.read("config.json"))
                data = io.BytesIO(z.read("model.weights.h5"))
            with h5py.File(data, "r") as f:
                stored = self._stored(f, path)
        except StrokelensError:
            raise
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as exc:
            raise self.fail(path, f"it is damaged or truncated ({first_line(exc)})") from None
        weights = {}
        body = config.get("config", {}) if isinstance(config, dict) else {}
        for layer in body.get("layers", []) if isinstance(body, dict) else []:
            cfg = layer.get("config", {}) if isinstance(layer, dict) else {}
            name = cfg.get("name") if isinstance(cfg, dict) else None
            arrays = stored.pop(name, [])
            keys = _var_names(str(layer.get("class_name")), cfg)
            if len(arrays) != len(keys):
                raise self.fail(
                    path, f"layer {name!r} stores {len(arrays)} variables, its config needs {len(keys)}"
                )
            weights.update({f"{name}/{k}": a for k, a in zip(keys, arrays, strict=True)})
        left = [n for n, arrays in stored.items() if arrays]
        if left:
            raise self.fail(path, f"weights of layers not in config.json: {', '.join(left[:5])}")
        model = _build(self, config, weights, path)
        return Loaded(model, _model_input(model, path, self.fail))

    def _stored(self, f: Any, source: Path) -> dict[str, list[np.ndarray]]:
        """Each layer's variables by layer name (``vars`` carries the name; the folder may not)."""
        out: dict[str, list[np.ndarray]] = {}
        layers = f.get("layers", {})
        for folder in layers:
            v = layers[folder].get("vars")
            if v is None:
                continue
            name = v.attrs.get("name", folder)
            name = name.decode("utf-8") if isinstance(name, bytes) else str(name)
            out[name] = [_array(self, v[str(i)], source, f"{name}/vars/{i}") for i in range(len(v))]
        return out


class TFJSFormat(ModelFormat):
    """A TF.js layers ``model.json`` (or its folder): JSON topology and raw float32 weight shards."""

    name = "TF.js layers model"

    def recognises(self, probe: Probe) -> bool:
        if probe.is_dir:
            return (probe.path / "model.json").is_file()
        json_object = probe.head.lstrip().startswith(b"{")
        return json_object and (b'"modelTopology"' in probe.head or probe.path.name == "model.json")

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        from strokelens.models.tfjs import load_tfjs

        model_json = probe.path / "model.json" if probe.is_dir else probe.path
        try:
            model = load_tfjs(model_json, drop_final_softmax=True)
        except StrokelensError as exc:  # the reader's errors, named as this format's
            raise self.named(probe.path, exc) from None
        return Loaded(model, _model_input(model, model_json, self.fail))
