#!/usr/bin/env python3
"""The Python path vggconv is measured against: h5py + numpy read a Keras .h5, apply the same layout
conversions (HWIO->OIHW, (in,out)->(out,in), fc1 rows HWC->CHW) and write safetensors.
usage: reference_keras_to_safetensors.py IN.h5 OUT.safetensors"""
import sys
import h5py
import numpy as np
from safetensors.numpy import save_file

src, dst = sys.argv[1], sys.argv[2]
tensors = {}
with h5py.File(src, "r") as f:
    root = f["model_weights"] if "model_weights" in f else f
    channels, first_dense = None, True
    for layer in [n.decode() if isinstance(n, bytes) else n for n in root.attrs["layer_names"]]:
        group = root[layer]
        for wname in [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]:
            value = group[wname][()]
            kind = wname.split("/")[-1].split(":")[0]
            if value.ndim == 4:
                channels = value.shape[3]
                value = value.transpose(3, 2, 0, 1)
            elif value.ndim == 2:
                if first_dense:
                    hw = value.shape[0] // channels
                    value = value.reshape(hw, channels, -1).transpose(1, 0, 2).reshape(value.shape[0], -1)
                    first_dense = False
                value = value.T
            name = {"kernel": "weight", "bias": "bias"}.get(kind, kind)
            tensors[f"{layer}.{name}"] = np.ascontiguousarray(value)
save_file(tensors, dst)
