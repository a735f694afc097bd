#!/usr/bin/env python3
"""What users run today to see a model's summary. usage: summary.py keras|torchinfo FILE"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
tool, path = sys.argv[1], sys.argv[2]
if tool == "keras":
    import tf_keras
    tf_keras.models.load_model(path).summary()
else:
    import torch, torchvision, torchinfo
    model = torchvision.models.vgg16()
    model.load_state_dict(torch.load(path, weights_only=True))
    torchinfo.summary(model, input_size=(1, 3, 224, 224))
