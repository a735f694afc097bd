#!/usr/bin/env python3
"""Dumps every layer's output of a Keras model for `vggconv verify --layers` (a sub-model per layer).

usage: dump_layers_keras.py MODEL.(h5|keras) INPUT_NHWC.npy OUT.npz [--keras3]
Keys are Keras layer names; values the layer's output for the whole batch, NHWC for maps (vggconv
reads either layout). tf-keras loads .h5 files unless --keras3 is given (always for .keras).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np


def main():
    path, x, out = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
    if path.endswith(".keras") or "--keras3" in sys.argv:
        import keras
    else:
        import tf_keras as keras
    model = keras.models.load_model(path, compile=False)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in layers])
    values = probe.predict(x, verbose=0)
    np.savez(out, **{layer.name: np.asarray(value) for layer, value in zip(layers, values)})


if __name__ == "__main__":
    sys.exit(main())
