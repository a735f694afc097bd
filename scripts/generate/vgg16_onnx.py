#!/usr/bin/env python3
"""Export torchvision VGG16 with the given state_dict to ONNX (dynamic batch), and write an input batch and
PyTorch's outputs for verifying vggconv at full size.  usage: export_vgg16.py STATE_DICT.pth OUT_DIR"""
import os, sys
import numpy as np, torch, torchvision

pth, out = sys.argv[1], sys.argv[2]
model = torchvision.models.vgg16()
model.load_state_dict(torch.load(pth, weights_only=True))
model.eval()
x = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 3, 224, 224)).astype("float32"))
torch.onnx.export(model, x[:1], os.path.join(out, "vgg16.onnx"), input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
with torch.inference_mode():
    np.save(os.path.join(out, "vgg16_torch_logits.npy"), model(x).numpy())
np.save(os.path.join(out, "vgg16_input_nchw.npy"), x.numpy())
