#!/usr/bin/env python3
"""Write torchvision's VGG16 (random weights, 138,357,544 parameters) with real torch.save:
DIR/vgg16_torchvision.pth. usage: make_vgg16_torch.py DIR"""
import os, sys
import torch, torchvision

model = torchvision.models.vgg16(weights=None)
torch.save(model.state_dict(), os.path.join(sys.argv[1], "vgg16_torchvision.pth"))
print("params", sum(p.numel() for p in model.parameters()))
