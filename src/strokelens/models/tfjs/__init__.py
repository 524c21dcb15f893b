"""Load TensorFlow.js *layers* models (``model.json`` + weight shards) into PyTorch, without pickle.

A TF.js layers model is a Keras topology (``modelTopology``) plus a weights manifest
(``weightsManifest``): groups of weight shards, each a list of files whose bytes, concatenated, hold
the group's weights one after another as little-endian float32 in manifest order. This package reads
the shards with ``np.frombuffer`` and builds a generic `TFJSModel` from the topology:

- Keras ``Sequential`` models and functional ``Model`` graphs with one input and one output;
- layers: ``InputLayer`` and the classes of `LAYER_BUILDERS`, an explicit table from Keras class name
  to builder (``Conv2D``, ``Dense``, ``MaxPooling2D``, ``AveragePooling2D``,
  ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``, ``BatchNormalization``, ``Flatten``,
  ``Dropout``, ``Activation``, ``ReLU``, ``LeakyReLU``, ``Softmax``, ``ZeroPadding2D``, ``Add``,
  ``Concatenate``, ...); any other class is refused, naming the layer and the supported classes.

Order of checks: the weights manifest (shapes, dtypes, byte counts against the shard sizes) is checked
before any shard is read, and each layer takes its weights, checking their shapes against its config,
before its module is made; the module's sizes come from those checked weights. So a size declared in
model.json (say 10^9 units) that the weights do not back is refused before anything is allocated.

The built module takes PyTorch layout (``NCHW``) and computes exactly what Keras computes in
``NHWC``: TF ``'same'`` padding is reproduced with its asymmetric split (more padding after than
before), and ``Flatten`` flattens in channels-last order so that the following ``Dense`` kernel
applies unchanged. Every weight's shape is checked against the layer that uses it, every shard's
byte count against the manifest, and every value for NaN/inf; any problem raises `StrokelensError`
naming the file.

Modules: `manifest` (model.json and the weight shards, checked and read), `modules` (PyTorch modules
for Keras operations in ``NCHW``), `layers` (`LAYER_BUILDERS`: a Keras layer config and its weights
into a module) and `model` (`TFJSModel`, `build_model`, `load_tfjs`).
"""

from __future__ import annotations

from strokelens.models.tfjs.layers import LAYER_BUILDERS as LAYER_BUILDERS
from strokelens.models.tfjs.layers import Shape as Shape
from strokelens.models.tfjs.manifest import DTYPE_BYTES as DTYPE_BYTES
from strokelens.models.tfjs.manifest import MAX_MODEL_JSON_BYTES as MAX_MODEL_JSON_BYTES
from strokelens.models.tfjs.manifest import read_model_json, read_weights
from strokelens.models.tfjs.model import TFJSModel, load_tfjs
from strokelens.models.tfjs.model import build_model as build_model
from strokelens.models.tfjs.modules import ACTIVATIONS as ACTIVATIONS
from strokelens.models.tfjs.modules import Add as Add
from strokelens.models.tfjs.modules import AvgPoolSame as AvgPoolSame
from strokelens.models.tfjs.modules import ChannelDense as ChannelDense
from strokelens.models.tfjs.modules import ChannelsLastFlatten as ChannelsLastFlatten
from strokelens.models.tfjs.modules import Concatenate as Concatenate
from strokelens.models.tfjs.modules import Lambda as Lambda
from strokelens.models.tfjs.modules import SamePad2d as SamePad2d
from strokelens.models.tfjs.modules import _same_pads as _same_pads

__all__ = ["TFJSModel", "load_tfjs", "read_model_json", "read_weights"]
