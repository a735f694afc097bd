#!/usr/bin/env python3
"""The Python path torch2native is measured against: torch.load (weights_only) + safetensors.
usage: reference_torch_to_safetensors.py IN.pth OUT.safetensors"""
import sys
import torch
from safetensors.torch import save_file

state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
save_file({k: v.contiguous() for k, v in state.items() if v.dtype.is_floating_point}, sys.argv[2])
