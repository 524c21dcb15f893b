"""Export the Keras test models in this folder with Keras 3 (run by hand; the tests need no Keras).

    KERAS_BACKEND=torch STROKELENS_HOME=../shared python tests/data/models/make_keras_models.py

- ``doodlenet-keras/doodlenet.h5``: DoodleNet's architecture built in Keras (six 3x3 'same'
  convolutions, 2x2 pools, Dense 512 tanh, Dense 345 softmax) with DoodleNet's real weights (MIT,
  ml5.js; read from ``$STROKELENS_HOME/models/doodlenet``), saved as Keras HDF5, its
  ``class_names.txt`` and licence beside it;
- ``functional.keras`` and ``functional.h5``: a small functional graph (batch norm, a residual
  ``Add``, a strided 'same' convolution, global pooling) with seeded random weights and non-trivial
  batch-norm statistics; the ``.h5`` also carries a ``class_names`` attribute (file metadata);
- ``functional_reference.npz``: seeded inputs ``x`` (NHWC) and Keras's own outputs ``probs`` for them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py
import keras
import numpy as np
from keras import layers

from strokelens.models.tfjs import read_weights

HERE = Path(__file__).parent
CLASSES = ["airplane", "cactus", "crab", "face"]


def doodlenet(home: Path) -> None:
    src = home / "models" / "doodlenet"
    model = keras.Sequential(name="doodlenet")
    model.add(keras.Input((28, 28, 1)))
    for i, filters in enumerate((16, 16, 32, 32, 64, 64)):
        model.add(layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv2d_{i}"))
        if i % 2:
            model.add(layers.MaxPooling2D(2))
    model.add(layers.Dropout(0.1))
    model.add(layers.Flatten())
    model.add(layers.Dense(512, activation="tanh", name="dense"))
    model.add(layers.Dense(345, activation="softmax", name="dense_1"))
    w = read_weights(src / "model.json")
    ordered = [w[f"conv2d{'' if i == 0 else f'_{i}'}/{k}"] for i in range(6) for k in ("kernel", "bias")]
    ordered += [w[f"{n}/{k}"] for n in ("dense", "dense_1") for k in ("kernel", "bias")]
    model.set_weights(ordered)
    out = HERE / "doodlenet-keras"
    out.mkdir(exist_ok=True)
    model.save(out / "doodlenet.h5")
    shutil.copyfile(src / "class_names.txt", out / "class_names.txt")
    shutil.copyfile(src.parent / "LICENSE-ml5-MIT.txt", out / "LICENSE-ml5-MIT.txt")


def functional() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1), name="sketch")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y = layers.BatchNormalization()(x)
    y = layers.Conv2D(8, 3, padding="same")(y)
    z = layers.Activation("relu")(layers.Add()([x, y]))
    z = layers.MaxPooling2D(2)(z)
    z = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(z)
    z = layers.GlobalAveragePooling2D()(z)
    z = layers.Dropout(0.2)(z)
    out = layers.Dense(len(CLASSES), activation="softmax")(z)
    model = keras.Model(inp, out, name="functional_sketch")
    rng = np.random.default_rng(0)
    bn = model.get_layer(index=2)
    gamma, _beta, _mean, var = bn.get_weights()
    bn.set_weights([gamma + rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 8), rng.normal(0, 0.5, 8), var + 1.5])
    model.save(HERE / "functional.keras")
    model.save(HERE / "functional.h5")
    with h5py.File(HERE / "functional.h5", "a") as f:
        f.attrs["class_names"] = json.dumps(CLASSES)
    x = rng.random((6, 28, 28, 1), dtype=np.float32)
    probs = np.asarray(model.predict(x, verbose=0))
    np.savez_compressed(HERE / "functional_reference.npz", x=x, probs=probs)


if __name__ == "__main__":
    doodlenet(Path(os.environ["STROKELENS_HOME"]))
    functional()
