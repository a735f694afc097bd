#!/usr/bin/env python3
"""Full-size proof of `diff`, `verify --explain`, `--logits` and `--layers` with the real frameworks
(run in the samples venv: `make check-diagnosis`).

- tf-keras VGG16 (.h5, ends in softmax) converted by vggconv to a .pth that torchvision's vgg16 loads;
  PyTorch's logits on a random batch are the golden.
- `verify KERAS.h5 --golden LOGITS` fails; `--explain` names softmax vs logits and passes under it;
  `--logits` passes.
- `diff KERAS.h5 TWIN.pth` is IDENTICAL (exit 0); against the twin with fc1's rows left in Keras order
  it names the Flatten permutation at fc1.weight.
- Per-layer activations from torchvision's forward hooks (scripts/reference/dump_layers_torch.py): `verify
  --layers` agrees on every layer.
usage: diagnosis.py VGGCONV_BINARY WORK_DIR (WORK_DIR holds vgg16_tfkeras_model.h5)
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    binary, work = sys.argv[1], sys.argv[2]
    keras_file = os.path.join(work, "vgg16_tfkeras_model.h5")
    twin = os.path.join(work, "vgg16_twin.pth")
    subprocess.run([binary, "convert", keras_file, "-o", twin, "--force"], check=True, capture_output=True)
    model = torchvision.models.vgg16(weights=None)
    model.load_state_dict(torch.load(twin, weights_only=True))
    model.eval()
    x = np.random.default_rng(11).normal(0, 1, (2, 3, 224, 224)).astype("float32")
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    paths = {name: os.path.join(work, f"diagnosis_{name}.npy") for name in ("x", "logits")}
    np.save(paths["x"], x)
    np.save(paths["logits"], logits)
    failures = 0

    def run(label, arguments, expect_status, expect_text):
        nonlocal failures
        result = subprocess.run([binary] + arguments, capture_output=True, text=True)
        ok = result.returncode == expect_status and expect_text in result.stdout
        failures += not ok
        lines = [l for l in result.stdout.splitlines() if expect_text in l] or result.stdout.splitlines()[-1:]
        print(f"{'PASS' if ok else 'FAIL'}  {label}: exit {result.returncode}; {lines[0].strip() if lines else result.stderr.strip()}", flush=True)

    verify = ["verify", keras_file, "--input", paths["x"], "--golden", paths["logits"]]
    run("full-size tf-keras VGG16 vs PyTorch logits, plain verify", verify, 1, "hint: the model ends in softmax")
    run("... with --explain", verify + ["--explain"], 1, "PASS  the golden holds logits but the model ends in softmax")
    run("... with --logits", verify + ["--logits"], 0, "PASS: 2 samples")
    run("diff tf-keras VGG16 .h5 vs its .pth twin", ["diff", keras_file, twin], 0, "IDENTICAL")
    # The hand-written converter's mistake: fc1 transposed but its rows left in Keras's H,W,C order.
    state = torch.load(twin, weights_only=True)
    w = state["classifier.0.weight"]
    state["classifier.0.weight"] = w.reshape(4096, 512, 7, 7).permute(0, 2, 3, 1).reshape(4096, -1).contiguous()
    naive = os.path.join(work, "vgg16_fc1_rows_hwc.pth")
    torch.save(state, naive)
    run("diff vs the twin with fc1's rows in H,W,C order", ["diff", keras_file, naive], 1, "slip: input rows in H,W,C vs C,H,W order")
    layers = os.path.join(work, "vgg16_layers.npz")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "reference", "dump_layers_torch.py"), twin, paths["x"], layers, "--torchvision", "vgg16"], check=True)
    run("verify --layers with torchvision's forward hooks", ["verify", twin, "--input", paths["x"], "--layers", layers], 0, "PASS:")
    run("verify --layers: the H,W,C fc1 diverges first at fc1", ["verify", naive, "--input", paths["x"], "--layers", layers], 1,
        "first divergence at layer fc1")
    print("all diagnosis checks pass" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
