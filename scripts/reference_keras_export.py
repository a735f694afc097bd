#!/usr/bin/env python3
"""The Python path a user takes to turn torchvision VGG16 weights into a Keras file, for
scripts/bench-convert.sh: torch.load, build keras.applications.VGG16 (tf-keras for .h5, Keras 3 for
.weights.h5 and .keras), set its weights with the layout changes done in numpy (OIHW -> HWIO, fc1's rows
C,H,W -> H,W,C, dense transposes), save.
usage: reference_keras_export.py INPUT.pth OUTPUT.(h5|weights.h5|keras)"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import torch

source, output = sys.argv[1], sys.argv[2]
if output.endswith(".h5") and not output.endswith(".weights.h5"):
    import tf_keras as keras
else:
    import keras

state = torch.load(source, weights_only=True)
model = keras.applications.VGG16(weights=None, classifier_activation=None)
values = []
for key in [k for k in state if k.startswith("features.") and k.endswith(".weight")]:
    values += [state[key].numpy().transpose(2, 3, 1, 0), state[key[:-len("weight")] + "bias"].numpy()]
for index, key in enumerate(["classifier.0", "classifier.3", "classifier.6"]):
    w = state[key + ".weight"].numpy()
    if index == 0:
        w = w.reshape(w.shape[0], 512, 7, 7).transpose(2, 3, 1, 0).reshape(-1, w.shape[0])
    else:
        w = w.T
    values += [w, state[key + ".bias"].numpy()]
model.set_weights(values)
if output.endswith(".weights.h5"):
    model.save_weights(output)
else:
    model.save(output)
