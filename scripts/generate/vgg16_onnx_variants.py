#!/usr/bin/env python3
"""Write full-size VGG16 ONNX files with the real exporters, from the weights of DIR/vgg16_torchvision.pth
(scripts/generate/vgg16_torch.py): torch.onnx.export at opset 13 (DIR/vgg16_torch.onnx), the same graph
with external data (DIR/vgg16_external.onnx + .data), and with --tf2onnx, tf2onnx from tf-keras's VGG16 with
those weights (DIR/vgg16_tf2onnx.onnx, NHWC input; tf2onnx 1.17 peaks above 20 GB on VGG16, so it is opt-in:
the small tf2onnx samples in samples/onnx cover its dialect). usage: vgg16_onnx_variants.py DIR [--tf2onnx]"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import torch
import torchvision  # before TensorFlow (both bundle protobuf/abseil)
import onnx

folder = sys.argv[1]
model = torchvision.models.vgg16(weights=None)
model.load_state_dict(torch.load(os.path.join(folder, "vgg16_torchvision.pth"), weights_only=True))
model.eval()
x = torch.zeros(1, 3, 224, 224)
torch.onnx.export(model, (x,), os.path.join(folder, "vgg16_torch.onnx"), opset_version=13, dynamo=False,
                  input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
graph = onnx.load(os.path.join(folder, "vgg16_torch.onnx"))
onnx.save_model(graph, os.path.join(folder, "vgg16_external.onnx"), save_as_external_data=True,
                all_tensors_to_one_file=True, location="vgg16_external.onnx.data", size_threshold=1024)

if "--tf2onnx" in sys.argv:
    import numpy as np
    import tensorflow as tf
    import tf_keras
    import tf2onnx

    keras_model = tf_keras.applications.VGG16(weights=None, classifier_activation=None)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    convs = [k[:-len(".weight")] for k in state if k.startswith("features") and k.endswith(".weight")]
    weights = []
    for key in convs:
        weights += [state[key + ".weight"].transpose(2, 3, 1, 0), state[key + ".bias"]]
    fc1 = state["classifier.0.weight"].reshape(4096, 512, 7, 7).transpose(2, 3, 1, 0).reshape(-1, 4096)
    weights += [fc1, state["classifier.0.bias"], state["classifier.3.weight"].T, state["classifier.3.bias"],
                state["classifier.6.weight"].T, state["classifier.6.bias"]]
    keras_model.set_weights(weights)
    spec = (tf.TensorSpec((None, 224, 224, 3), tf.float32, name="input"),)
    tf2onnx.convert.from_keras(keras_model, input_signature=spec, opset=13, output_path=os.path.join(folder, "vgg16_tf2onnx.onnx"))
print("ONNX VGG16 files written to", folder)
