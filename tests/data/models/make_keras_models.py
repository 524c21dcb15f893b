"""Export the Keras test models in this folder with Keras 3 (run by hand; the tests need no Keras).

    KERAS_BACKEND=torch PYTHONPATH=src python tests/data/models/make_keras_models.py

- ``sequential.h5`` and ``sequential_reference.npz``: a small DoodleNet-shaped Sequential model
  (Keras 3 HDF5) with seeded random weights, and seeded inputs ``x`` with Keras's outputs ``probs``;
- ``functional.keras`` and ``functional.h5``: a small functional graph (batch norm, a residual
  ``Add``, a strided 'same' convolution, global pooling) with seeded random weights and non-trivial
  batch-norm statistics; the ``.h5`` also carries a ``class_names`` attribute (file metadata);
- ``functional_reference.npz``: seeded inputs ``x`` (NHWC) and Keras's own outputs ``probs`` for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py
import keras
import numpy as np
from keras import layers

HERE = Path(__file__).parent
CLASSES = ["airplane", "cactus", "crab", "face"]


def sequential() -> None:
    """A DoodleNet-shaped Sequential model (convolutions in pairs, pools, dropout, Dense tanh, Dense
    softmax), smaller, with seeded random weights."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(name="small_doodlenet")
    model.add(keras.Input((28, 28, 1)))
    for i, filters in enumerate((8, 8, 16, 16)):
        model.add(layers.Conv2D(filters, 3, padding="same", activation="relu"))
        if i % 2:
            model.add(layers.MaxPooling2D(2))
    model.add(layers.Dropout(0.1))
    model.add(layers.Flatten())
    model.add(layers.Dense(32, activation="tanh"))
    model.add(layers.Dense(len(CLASSES), activation="softmax"))
    model.save(HERE / "sequential.h5")
    x = np.random.default_rng(1).random((6, 28, 28, 1), dtype=np.float32)
    np.savez_compressed(HERE / "sequential_reference.npz", x=x, probs=np.asarray(model.predict(x, verbose=0)))


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
    sequential()
    functional()
