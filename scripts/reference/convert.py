#!/usr/bin/env python3
"""The Python paths a user takes for the conversions scripts/bench/convert.sh times vggconv against.

usage: convert.py ROUTE INPUT OUTPUT
  keras-h5py        h5py + numpy read a Keras .h5, apply vggconv's layout changes (HWIO -> OIHW,
                    (in,out) -> (out,in), fc1's rows H,W,C -> C,H,W) and write safetensors (keras2native's rival)
  torch-load        torch.load(weights_only=True) + safetensors.torch.save_file (torch2native's rival)
  torch-export      OUTPUT.(pth|safetensors|onnx) from the torchvision VGG16 beside INPUT (the same bytes
                    vggconv converts from Keras, so both sides write as much): torch.save, save_file, or
                    torch.onnx.export of torchvision's VGG16
  keras-export      OUTPUT.(h5|weights.h5|keras) from INPUT.pth: keras.applications.VGG16 (tf-keras for .h5,
                    Keras 3 otherwise), set_weights with the layout changes done in numpy, save
  onnx-numpy        onnx.load + numpy_helper.to_array of every initializer, written with safetensors (what
                    reading an .onnx's weights takes in Python; a torch.onnx graph is already in PyTorch's layout)
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def keras_h5py(source, output):
    import h5py
    import numpy as np
    from safetensors.numpy import save_file

    def text(values):
        return [v.decode() if isinstance(v, bytes) else v for v in values]

    tensors = {}
    with h5py.File(source, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        channels, first_dense = None, True
        for layer in text(root.attrs["layer_names"]):
            group = root[layer]
            for weight in text(group.attrs["weight_names"]):
                value = group[weight][()]
                kind = weight.split("/")[-1].split(":")[0]
                if value.ndim == 4:
                    channels = value.shape[3]
                    value = value.transpose(3, 2, 0, 1)
                elif value.ndim == 2:
                    if first_dense:
                        hw = value.shape[0] // channels
                        value = value.reshape(hw, channels, -1).transpose(1, 0, 2).reshape(value.shape[0], -1)
                        first_dense = False
                    value = value.T
                tensors[f"{layer}.{ {'kernel': 'weight'}.get(kind, kind) }"] = np.ascontiguousarray(value)
    save_file(tensors, output)


def torch_load(source, output):
    import torch
    from safetensors.torch import save_file

    state = torch.load(source, map_location="cpu", weights_only=True)
    save_file({k: v.contiguous() for k, v in state.items() if v.dtype.is_floating_point}, output)


def torch_export(source, output):
    import torch
    import torchvision

    state = torch.load(os.path.join(os.path.dirname(source), "vgg16_torchvision.pth"), weights_only=True)
    if output.endswith(".pth"):
        torch.save(state, output)
    elif output.endswith(".safetensors"):
        import safetensors.torch
        safetensors.torch.save_file(state, output)
    else:
        model = torchvision.models.vgg16(weights=None)
        model.load_state_dict(state)
        model.eval()
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), output, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "N"}})


def keras_export(source, output):
    import torch
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
        w = w.reshape(w.shape[0], 512, 7, 7).transpose(2, 3, 1, 0).reshape(-1, w.shape[0]) if index == 0 else w.T
        values += [w, state[key + ".bias"].numpy()]
    model.set_weights(values)
    if output.endswith(".weights.h5"):
        model.save_weights(output)
    else:
        model.save(output)


def onnx_numpy(source, output):
    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import save_file

    graph = onnx.load(source).graph
    save_file({t.name: numpy_helper.to_array(t) for t in graph.initializer}, output)


ROUTES = {"onnx-numpy": onnx_numpy, "keras-h5py": keras_h5py, "torch-load": torch_load, "torch-export": torch_export, "keras-export": keras_export}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ROUTES:
        sys.exit(__doc__)
    ROUTES[sys.argv[1]](sys.argv[2], sys.argv[3])
