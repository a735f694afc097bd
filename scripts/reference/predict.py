#!/usr/bin/env python3
"""What a Python user runs to classify a folder of photos with VGG16 in ONNX Runtime, for
scripts/bench/predict.sh: PIL decode, torchvision's Resize(256) + CenterCrop(224) + ToTensor + Normalize,
batches of 8 through an onnxruntime session, softmax, top-5. Prints images per second.
usage: predict.py MODEL.onnx DIR"""
import os
import sys
import time

import numpy as np
import onnxruntime
from PIL import Image
from torchvision import transforms

start = time.perf_counter()
model, folder = sys.argv[1], sys.argv[2]
paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith((".jpg", ".png")))
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
preprocess = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
for i in range(0, len(paths), 8):
    x = np.stack([preprocess(Image.open(p).convert("RGB")).numpy() for p in paths[i:i + 8]])
    logits = session.run(None, {name: x})[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    top5 = np.argsort(-(e / e.sum(axis=1, keepdims=True)), axis=1)[:, :5]
print(f"{len(paths) / (time.perf_counter() - start):.2f} images/s")
