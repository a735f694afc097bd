#!/usr/bin/env python3
"""Exports every transfer-learning sample (samples/transfer) with vggconv and loads the exports in the real
frameworks with their ordinary safe loaders: PyTorch (torch.load(weights_only=True) into the emitted module
or torchvision), ONNX Runtime, tf-keras and Keras 3 (load_model). Each must reproduce the source framework's
outputs within 1e-4 x max|output|. Run in the samples venv:
    .venv-samples/bin/python scripts/check/transfer_exports.py .build/release/vggconv OUT_DIR
"""
import importlib.util
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "samples", "transfer")


def close(a, b):
    scale = max(float(np.abs(b).max()), 1e-12)
    return float(np.abs(np.asarray(a, dtype=np.float64) - b).max()) / scale


def main(vggconv, out):
    os.makedirs(out, exist_ok=True)
    manifest = json.load(open(os.path.join(SAMPLES, "manifest.json")))["models"]
    results = []

    def export(source, target, extra=()):
        subprocess.run([vggconv, "convert", source, "-o", target, "--force", *extra], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    import torch
    import onnxruntime
    for name, entry in sorted(manifest.items()):
        keras_source = "_keras3.keras" in entry["files"]
        source = os.path.join(SAMPLES, entry["files"]["_keras3.keras" if keras_source else ".pth"])
        x = np.load(os.path.join(SAMPLES, entry["input"]))
        golden = np.load(os.path.join(SAMPLES, entry["output"]))
        x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if keras_source else x
        x_nhwc = x if keras_source else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        extra = ["--pool", "max"] if name == "tl_torch_maxpool" else []
        # PyTorch: the emitted module (or torchvision) + torch.load(weights_only=True).
        pth = os.path.join(out, f"{name}.pth")
        export(source, pth, extra)
        module_path = pth[:-4] + ".py"
        spec = importlib.util.spec_from_file_location(f"m_{name}", module_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build()
        model.load_state_dict(torch.load(pth, weights_only=True))
        model.eval()
        with torch.no_grad():
            y = model(torch.from_numpy(x_nchw)).numpy()
        results.append((name, "pth", close(y, golden)))
        # ONNX Runtime.
        onnx_path = os.path.join(out, f"{name}.onnx")
        export(source, onnx_path, extra)
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        y = session.run(None, {session.get_inputs()[0].name: x_nchw})[0]
        results.append((name, "onnx", close(y, golden)))
        # Keras 3 .keras and .h5, tf-keras .h5: outputs, and for Keras sources the same top-level layers
        # (a nested base stays one nested model) with the same trainable counts.
        import keras
        import tf_keras
        reference = keras.saving.load_model(source) if keras_source else None

        def structure(model):
            return [(layer.name, type(layer).__name__ if not hasattr(layer, "layers") else "Model") for layer in model.layers]

        def count(weights):
            return int(sum(np.prod(w.shape) for w in weights))

        keras_path, h5_path = os.path.join(out, f"{name}.keras"), os.path.join(out, f"{name}.h5")
        export(source, keras_path, extra)
        export(source, h5_path, extra)
        for label, load in [("keras", lambda: keras.saving.load_model(keras_path)),
                            ("keras3 h5", lambda: keras.saving.load_model(h5_path, compile=False)),
                            ("tf-keras h5", lambda: tf_keras.models.load_model(h5_path, compile=False))]:
            try:
                model = load()
            except Exception as error:
                # Keras 3's legacy .h5 loader resolves a nested model's call as node 0 where tf-keras writes
                # node 1: it cannot load tf-keras's own file of such a model either. Not an export fault then.
                original = os.path.join(SAMPLES, f"{name}_tfkeras_model.h5")
                if label == "keras3 h5" and os.path.exists(original):
                    try:
                        keras.saving.load_model(original, compile=False)
                    except Exception:
                        print(f"n/a   {name:18s} {label:12s} Keras 3 cannot load tf-keras's own {os.path.basename(original)} either")
                        continue
                raise error
            y = np.asarray(model.predict(x_nhwc, verbose=0))
            error = close(y, golden)
            if reference is not None and (structure(model) != structure(reference)
                                          or count(model.trainable_weights) != count(reference.trainable_weights)):
                print(f"  {name} {label}: layers {structure(model)} (trainable {count(model.trainable_weights)}) where the source has "
                      f"{structure(reference)} (trainable {count(reference.trainable_weights)})")
                error = float("inf")
            results.append((name, label, error))
    failed = 0
    for name, target, error in results:
        ok = error <= 1e-4
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name:18s} {target:12s} max|diff|/max|golden| = {error:.2e}")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
