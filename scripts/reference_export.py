#!/usr/bin/env python3
"""The Python path a user takes to write the same export vggconv writes, for scripts/bench-convert.sh:
.pth: torch.load + torch.save; .safetensors: safetensors.torch.save_file; .onnx: torch.onnx.export of
torchvision's VGG16. The weights come from the torchvision VGG16 beside INPUT (the same bytes vggconv
converts from Keras, so both sides write the same amount).
usage: reference_export.py INPUT OUTPUT.(pth|safetensors|onnx)"""
import os
import sys

import torch
import torchvision

source = os.path.join(os.path.dirname(sys.argv[1]), "vgg16_torchvision.pth")
output = sys.argv[2]
state = torch.load(source, weights_only=True)
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
