#!/usr/bin/env python3
"""Forward-pass latency of VGG16 in PyTorch, ONNX Runtime and OpenVINO on this CPU, measured the same way
vggconv bench does (one warm-up, then the median of N timed passes on a fixed random batch).
usage: inference.py TOOL STATE_DICT.pth ONNX_PATH BATCH ITERATIONS   (TOOL: torch|onnxruntime|openvino)
Prints: TOOL BATCH median_ms min_ms max_ms"""
import os, statistics, sys, time
import numpy as np

tool, pth, onnx_path, batch, iterations = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype("float32")
if tool == "torch":
    import torch, torchvision
    model = torchvision.models.vgg16()
    model.load_state_dict(torch.load(pth, weights_only=True))
    model.eval()
    xt = torch.from_numpy(x)
    def forward():
        with torch.inference_mode():
            return model(xt)
elif tool == "onnxruntime":
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    def forward():
        return session.run(None, {name: x})
else:
    import openvino as ov
    # OpenVINO's CPU plugin runs bfloat16 by default on CPUs with AVX512_BF16 or AMX (Zen 4 among them):
    # 2x faster there but 8.6e-3 x max|logit| off PyTorch, 86x the verifier's bar. This is a float32 benchmark.
    compiled = ov.Core().compile_model(onnx_path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32"), compiled.get_property("INFERENCE_PRECISION_HINT")
    def forward():
        return compiled(x)
forward()
times = []
for _ in range(iterations):
    start = time.perf_counter()
    forward()
    times.append((time.perf_counter() - start) * 1000)
print(tool, batch, f"{statistics.median(times):.1f}", f"{min(times):.1f}", f"{max(times):.1f}")
