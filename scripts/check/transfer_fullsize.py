#!/usr/bin/env python3
"""Full-size transfer-learning saves, written by the real frameworks into OUT_DIR, checked through vggconv:
- tf-keras and Keras 3: Sequential[keras.applications.VGG16(include_top=False) with block5 unfrozen, Flatten,
  Dense(256, relu), Dropout, Dense(1, sigmoid)] after one fit step, as .h5, .keras and sharded weights
  (100 MB shards), and VGG16(include_top=False, pooling='avg') as a feature extractor;
- PyTorch: nn.Sequential(torchvision vgg16().features, AdaptiveAvgPool2d(1), Flatten, Linear(512, 5)), and
  torchvision's vgg16 with classifier[6] replaced by Linear(4096, 2).
For each: `vggconv verify` against the framework's outputs (1e-4 x max), `summary` against Keras's own text,
and the PyTorch export reloaded with torch.load(weights_only=True) reproducing the outputs.
    .venv-samples/bin/python scripts/check/transfer_fullsize.py .build/release/vggconv /dev/shm/tl-fullsize
"""
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["COLUMNS"] = "200"
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import torch
import torch.nn as nn
import torchvision  # before TensorFlow (an LLVM option clash aborts the other order)

results = []


def record(name, ok, detail):
    results.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def vggconv(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)


def verify(binary, name, model, x, y, layout, extra=()):
    xs, ys = os.path.join(OUT, f"{name}_x.npy"), os.path.join(OUT, f"{name}_y.npy")
    np.save(xs, x)
    np.save(ys, y)
    result = vggconv(binary, "verify", model, "--input", xs, "--golden", ys, "--input-layout", layout, *extra)
    record(f"{name} verify", result.returncode == 0, (result.stdout.strip().splitlines() or [result.stderr.strip()])[-1])


def summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    return "\n".join(lines) + "\n"


def keras_models(binary):
    import keras
    import tf_keras
    rng = np.random.default_rng(3)
    x = rng.normal(0, 50, (2, 224, 224, 3)).astype("float32")
    for label, km in (("tfkeras", tf_keras), ("keras3", keras)):
        base = km.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))
        for layer in base.layers:
            layer.trainable = layer.name.startswith("block5")
        model = km.Sequential([base, km.layers.Flatten(), km.layers.Dense(256, activation="relu"), km.layers.Dropout(0.5),
                               km.layers.Dense(1, activation="sigmoid")], name="cats_vs_dogs")
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, np.array([0.0, 1.0]), epochs=1, batch_size=2, verbose=0)
        y = np.asarray(model.predict(x, verbose=0))
        files = []
        if label == "tfkeras":
            files.append(os.path.join(OUT, "vgg16_tl_tfkeras.h5"))
            model.save(files[-1])
        else:
            files.append(os.path.join(OUT, "vgg16_tl.keras"))
            model.save(files[-1])
            os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
            model.save_weights(os.path.join(OUT, "sharded", "vgg16_tl.weights.json"), max_shard_size=0.1)
            with open(os.path.join(OUT, "vgg16_tl_config.json"), "w") as f:
                f.write(model.to_json())
        for path in files:
            loaded = km.models.load_model(path) if label == "tfkeras" else keras.saving.load_model(path)
            text = vggconv(binary, "summary", path).stdout
            record(f"{os.path.basename(path)} summary", text == summary_text(loaded), "equals Keras's own summary of the file"
                   if text == summary_text(loaded) else f"differs:\n{text}\n---\n{summary_text(loaded)}")
            verify(binary, os.path.basename(path), path, x, y, "nhwc")
        if label == "keras3":
            index = os.path.join(OUT, "sharded", "vgg16_tl.weights.json")
            shards = len([f for f in os.listdir(os.path.join(OUT, "sharded")) if f.endswith(".h5")])
            print(f"      sharded weights: {shards} shards")
            verify(binary, "vgg16_tl sharded", index, x, y, "nhwc", ("--config", os.path.join(OUT, "vgg16_tl_config.json")))
    features = tf_keras.applications.VGG16(include_top=False, weights=None, pooling="avg", input_shape=(224, 224, 3))
    path = os.path.join(OUT, "vgg16_features_avg.h5")
    features.save(path)
    verify(binary, "vgg16_features_avg.h5", path, x, features.predict(x, verbose=0), "nhwc")


def torch_models(binary):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    vgg = torchvision.models.vgg16()
    replaced = torchvision.models.vgg16()
    replaced.classifier[6] = nn.Linear(4096, 2)
    for name, model in (("vgg16_gap_head", nn.Sequential(vgg.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 5))),
                        ("vgg16_classifier6", replaced)):
        model.eval()
        with torch.no_grad():
            y = model(x).numpy()
        path = os.path.join(OUT, f"{name}.pth")
        torch.save(model.state_dict(), path)
        verify(binary, name, path, x.numpy(), y, "nchw")
        exported = os.path.join(OUT, f"{name}_export.pth")
        result = vggconv(binary, "convert", path, "-o", exported, "--force")
        if result.returncode != 0:
            record(f"{name} export", False, result.stderr.strip())
            continue
        module_file = exported[:-4] + ".py"
        if os.path.exists(module_file):
            scope = {}
            exec(compile(open(module_file).read(), module_file, "exec"), scope)
            rebuilt = scope["build"]()
        else:
            rebuilt = torchvision.models.vgg16(num_classes=2)
        rebuilt.load_state_dict(torch.load(exported, weights_only=True))
        rebuilt.eval()
        with torch.no_grad():
            z = rebuilt(x).numpy()
        error = float(np.abs(z - y).max() / np.abs(y).max())
        record(f"{name} export reloaded in torch", error <= 1e-4, f"max|diff|/max = {error:.2e}")


if __name__ == "__main__":
    binary, OUT = sys.argv[1], sys.argv[2]
    os.makedirs(OUT, exist_ok=True)
    torch_models(binary)
    keras_models(binary)
    failed = sum(not ok for _, ok in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
