#!/usr/bin/env python3
"""Writes samples/timm_vgg_small.safetensors with timm itself: a timm VGG (timm.models.vgg.VGG, the class
behind timm's vgg11..vgg19) at a small size, saved as timm's own checkpoints are (safetensors with timm's
key names: `features.N`, `pre_logits.fc1` as a 7x7 convolution, `pre_logits.fc2` as a 1x1 one, `head.fc`),
plus a golden input (N, 3, 28, 28) and timm's output for it. Run by `make samples` after generate.py.
"""
import os

import numpy as np
import safetensors.torch
import torch
from timm.models.vgg import VGG

HERE = os.path.dirname(os.path.abspath(__file__))

torch.manual_seed(11)
# cfg as timm's vgg11 writes it, narrowed; mlp_ratio shrinks the 4096-wide ConvMlp hidden layer to 40.
model = VGG(cfg=[8, "M", 16, "M"], num_classes=5, mlp_ratio=0.01).eval()
with torch.no_grad():
    for parameter in model.parameters():
        parameter.copy_(torch.randn_like(parameter) * 0.1)
safetensors.torch.save_file(model.state_dict(), os.path.join(HERE, "timm_vgg_small.safetensors"))
x = np.random.default_rng(5).normal(0, 1, (2, 3, 28, 28)).astype("float32")
with torch.no_grad():
    y = model(torch.from_numpy(x)).numpy()
np.save(os.path.join(HERE, "golden", "timm_vgg_small_input_nchw.npy"), x)
np.save(os.path.join(HERE, "golden", "timm_vgg_small_logits.npy"), y)
print("timm", {k: tuple(v.shape) for k, v in model.state_dict().items()})
