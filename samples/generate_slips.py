#!/usr/bin/env python3
"""Writes sample files with one known conversion slip each, for `vggconv diff` (run by `make samples`).

Each file is the committed sample model (written by the real frameworks: samples/generate.py) with one
mistake that real converters make, saved again by the real framework: torch.save for PyTorch files,
tf-keras's model.save for Keras files. samples/slips/manifest.json lists, for each file, the file it
must be compared with, the tensor that differs and words the slip's name must contain.
Also writes per-layer golden activations for `vggconv verify --layers` with scripts/reference/dump_layers_*.py.
"""
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SLIPS = os.path.join(HERE, "slips")
SCRIPTS = os.path.join(os.path.dirname(HERE), "scripts", "reference")


def torch_slip(base, name, edit):
    """base state_dict → edit(state) → torch.save; returns the output's name."""
    state = {k: v.clone() for k, v in torch.load(os.path.join(HERE, base), weights_only=True).items()}
    edit(state)
    torch.save(state, os.path.join(SLIPS, name))
    return name


def naive_keras_to_torch(state, keras_path):
    """What a hand-written converter does: every Keras kernel transposed to PyTorch's layout, but the
    first Dense after Flatten only transposed, its rows left in Keras's H,W,C order."""
    import h5py
    with h5py.File(keras_path, "r") as f:
        weights = f["model_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in weights.attrs["layer_names"]]
        kernels = []
        for layer in names:
            group = weights[layer]
            weight_names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            kernels += [np.array(group[w]) for w in weight_names if w.endswith("kernel:0")]
    keys = [k for k in state if k.endswith("weight")]
    for key, kernel in zip(keys, kernels):
        value = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
        state[key] = torch.from_numpy(np.ascontiguousarray(value))


def main():
    os.makedirs(SLIPS, exist_ok=True)
    cases = []

    def case(name, base, tensor, words):
        cases.append({"file": f"slips/{name}", "base": base, "tensor": tensor, "slip": words})

    small_keras = os.path.join(HERE, "vgg_small_tfkeras_model.h5")
    case(torch_slip("vgg_small.pth", "vgg_small_fc1_rows_hwc.pth", lambda s: naive_keras_to_torch(s, small_keras)),
         "vgg_small_tfkeras_model.h5", "fc1.weight", "Flatten permutation")
    first = lambda s: next(k for k in s if s[k].dim() == 4)
    case(torch_slip("vgg_bn.pth", "vgg_bn_first_conv_bgr.pth",
                    lambda s: s.__setitem__(first(s), s[first(s)].flip(1).contiguous())),
         "vgg_bn.pth", "block1_conv1.weight", "input channels reversed (BGR vs RGB)")
    case(torch_slip("vgg_small.pth", "vgg_small_rotated.pth",
                    lambda s: [s.__setitem__(k, s[k].flip(2, 3).contiguous()) for k in list(s) if s[k].dim() == 4]),
         "vgg_small.pth", "block1_conv1.weight", "rotated 180 degrees")
    second = lambda s: [k for k in s if s[k].dim() == 4][1]  # block1_conv2: 8 in, 8 out
    case(torch_slip("vgg_small.pth", "vgg_small_conv_io_swapped.pth",
                    lambda s: s.__setitem__(second(s), s[second(s)].transpose(0, 1).contiguous())),
         "vgg_small.pth", "block1_conv2.weight", "axes permuted [1, 0, 2, 3]")
    case(torch_slip("vgg_small.pth", "vgg_small_half.pth", lambda s: [s.__setitem__(k, s[k].half()) for k in list(s)]),
         "vgg_small.pth", "block1_conv1.weight", "rounded to float16")
    case(torch_slip("vgg_small.pth", "vgg_small_bf16_rounded.pth",
                    lambda s: [s.__setitem__(k, s[k].bfloat16().float()) for k in list(s)]),
         "vgg_small.pth", "block1_conv1.weight", "rounded to bfloat16")
    dense = lambda s: [k for k in s if s[k].dim() == 2][1]
    case(torch_slip("vgg_small.pth", "vgg_small_fc2_scaled.pth", lambda s: s.__setitem__(dense(s), s[dense(s)] * 0.5)),
         "vgg_small.pth", "fc2.weight", "scaled by a constant factor 0.5")

    # BatchNorm epsilon: the same weights in a tf-keras model whose BatchNormalization layers keep Keras's
    # default 1e-3 (the PyTorch twin uses 1e-5): an architecture difference, no tensor differs.
    import tf_keras
    model = tf_keras.models.load_model(os.path.join(HERE, "vgg_bn_tfkeras_model.h5"), compile=False)
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["epsilon"] = 1e-3
    rebuilt = tf_keras.Sequential.from_config(config)
    rebuilt.set_weights(model.get_weights())
    rebuilt.save(os.path.join(SLIPS, "vgg_bn_eps1e-3_tfkeras_model.h5"))
    cases.append({"file": "slips/vgg_bn_eps1e-3_tfkeras_model.h5", "base": "vgg_bn.pth", "tensor": None,
                  "slip": "epsilon 1e-05 vs 0.001"})
    with open(os.path.join(SLIPS, "manifest.json"), "w") as f:
        json.dump(cases, f, indent=1)

    # Per-layer activations of vgg_small and vgg_bn from both frameworks, for `verify --layers`.
    layers = os.path.join(HERE, "layers")
    os.makedirs(layers, exist_ok=True)
    for model_name in ("vgg_small", "vgg_bn"):
        x = os.path.join(HERE, "golden", f"{model_name}_input_nchw.npy")
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "dump_layers_torch.py"), os.path.join(HERE, f"{model_name}.pth"),
                        x, os.path.join(layers, f"{model_name}_torch.npz"), "--sample-model", model_name], check=True)
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "dump_layers_keras.py"),
                        os.path.join(HERE, f"{model_name}_tfkeras_model.h5"),
                        os.path.join(HERE, "golden", f"{model_name}_input_nhwc.npy"), os.path.join(layers, f"{model_name}_keras.npz")],
                       check=True)
    print(f"wrote {len(cases)} slip samples and per-layer goldens")


if __name__ == "__main__":
    main()
