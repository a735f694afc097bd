#!/usr/bin/env python3
"""Converts ONNX files written by the real exporters (samples/onnx, and the full-size VGG16 files of
scripts/generate/vgg16_onnx_variants.py when DIR holds them) with vggconv to .pth, .h5 and .keras, loads each with
the framework's ordinary safe loader (torch.load(weights_only=True) into the emitted module or torchvision,
tf_keras.models.load_model, keras.saving.load_model) and compares its outputs with onnxruntime's on the
ONNX file itself: each must agree within 1e-4 x max|output|. Run in the samples venv:
    .venv-samples/bin/python scripts/check/onnx_imports.py .build/release/vggconv OUT_DIR [FULL_SIZE_DIR]
"""
import importlib.util
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import torch
import torchvision  # before TensorFlow
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "samples")


def relative_error(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max()) / max(float(np.abs(b).max()), 1e-12)


def softmax(y):
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main(vggconv, out, full_size=None):
    import keras
    import tf_keras

    os.makedirs(out, exist_ok=True)
    cases = []
    manifest = json.load(open(os.path.join(SAMPLES, "onnx", "manifest.json")))["files"]
    for file, entry in sorted(manifest.items()):
        cases.append((os.path.join(SAMPLES, "onnx", file), np.load(os.path.join(SAMPLES, entry["input"])), entry["layout"]))
    if full_size:
        rng = np.random.default_rng(5)
        x = rng.normal(0, 1, (2, 3, 224, 224)).astype("float32")
        for file, layout in (("vgg16_torch.onnx", "nchw"), ("vgg16_external.onnx", "nchw"), ("vgg16_tf2onnx.onnx", "nhwc")):
            if os.path.exists(os.path.join(full_size, file)):
                cases.append((os.path.join(full_size, file), x if layout == "nchw" else np.ascontiguousarray(x.transpose(0, 2, 3, 1)), layout))
    failures, worst = 0, 0.0
    for path, x, layout in cases:
        name = os.path.basename(path)[:-5]
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        golden = session.run(None, {session.get_inputs()[0].name: x})[0]
        x_nchw = x if layout == "nchw" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "nchw" else x
        probabilities = golden.ndim == 2 and np.allclose(golden.sum(axis=1), 1, atol=1e-4) and golden.min() >= 0
        for ext in ("pth", "h5", "keras"):
            target = os.path.join(out, f"{name}.{ext}")
            subprocess.run([vggconv, "convert", path, "-o", target, "--force"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if ext == "pth":
                module_path = target[:-4] + ".py"
                if os.path.exists(module_path):
                    spec = importlib.util.spec_from_file_location(f"m_{name}", module_path)
                    module = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
                    model = module.build()
                else:
                    model = torchvision.models.vgg16()
                model.load_state_dict(torch.load(target, weights_only=True))
                model.eval()
                with torch.no_grad():
                    y = model(torch.from_numpy(x_nchw)).numpy()
                if probabilities and not (np.allclose(y.sum(axis=1), 1, atol=1e-4) and y.min() >= 0):
                    y = softmax(y)  # a state_dict records no final softmax
                loader = "torch.load(weights_only=True)"
            else:
                model = tf_keras.models.load_model(target, compile=False) if ext == "h5" else keras.saving.load_model(target, compile=False)
                y = np.asarray(model.predict(x_nhwc, verbose=0))
                if y.ndim == 4:
                    y = y.transpose(0, 3, 1, 2)
                loader = "tf_keras load_model" if ext == "h5" else "keras.saving.load_model"
            if golden.ndim == 4 and layout == "nhwc" and y.shape != golden.shape:
                y = y.transpose(0, 2, 3, 1)
            error = relative_error(y, golden)
            worst = max(worst, error)
            ok = y.shape == golden.shape and error <= 1e-4
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'}  {name}.onnx -> .{ext:5s} {loader:28s} vs onnxruntime max|err|/max {error:.2e}")
    print(f"{len(cases) * 3 - failures} passed, {failures} failed; worst {worst:.2e} (bar 1e-04)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
