#!/usr/bin/env python3
"""Dumps every layer's output of a PyTorch VGG for `vggconv verify --layers` (forward hooks).

usage: dump_layers_torch.py STATE.pth INPUT_NCHW.npy OUT.npz (--torchvision vgg16 | --module OUT.py | --sample-model NAME)
  --torchvision NAME  torchvision.models.NAME(num_classes from the state_dict)
  --module FILE.py    the build() of a module file (such as the OUT.py vggconv writes beside a .pth)
  --sample-model NAME the nn.Sequential samples/generate.py builds for that sample
Keys are module paths ("features.0", "classifier.3", "0"); values the module's output for the whole
batch, NCHW for maps. vggconv compares each key with the layer of that source name (or canonical name).
"""
import argparse
import importlib.util
import os
import sys

import numpy as np
import torch


def build(args, state):
    if args.torchvision:
        import torchvision
        classes = state[[k for k in state if k.endswith("weight")][-1]].shape[0]
        return getattr(torchvision.models, args.torchvision)(weights=None, num_classes=classes)
    if args.module:
        spec = importlib.util.spec_from_file_location("exported", args.module)
    else:
        spec = importlib.util.spec_from_file_location(
            "generate", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples", "generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build() if args.module else module.torch_twin(module.MODELS[args.sample_model])[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("state"), parser.add_argument("input"), parser.add_argument("output")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--torchvision"), which.add_argument("--module"), which.add_argument("--sample-model")
    args = parser.parse_args()
    state = torch.load(args.state, weights_only=True)
    model = build(args, state)
    model.load_state_dict(state)
    model.eval()
    outputs = {}
    for name, module in model.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o.detach().numpy().copy()))
    with torch.no_grad():
        model(torch.from_numpy(np.load(args.input)))
    np.savez(args.output, **outputs)


if __name__ == "__main__":
    sys.exit(main())
