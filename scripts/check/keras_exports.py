#!/usr/bin/env python3
"""Proves vggconv's Keras exports with the real loaders (run in the samples venv: `make check-exports`).

For every sample model, from every input flavour, and for full-size torchvision VGG16 and VGG16-BN:
`vggconv convert IN -o OUT.h5 | OUT.h5 --h5-content weights | OUT.weights.h5 | OUT.keras`, then
- full .h5: tf_keras.models.load_model and keras.models.load_model (Keras 3's legacy .h5 path);
- weights-only .h5: model.load_weights in tf-keras and Keras 3 (samples: the model Keras itself described
  in samples/*_config.json; VGG16: keras.applications.VGG16(weights=PATH, classifier_activation=None));
- .weights.h5: Keras 3 load_weights into the same architecture; .keras: keras.saving.load_model;
- predict the framework's golden NHWC input and compare with PyTorch's own outputs on the same weights:
  max |err| <= 1e-4 x max|golden| and identical top-5 for class scores (float16 exports: 1e-2, top-1).
Prints one line per case, the worst relative error, and a verdict; exits 1 on any failure.
usage: keras_exports.py VGGCONV_BINARY WORK_DIR   (CHECK_MODELS=vgg_small,vgg_bn: those samples only)
"""
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import torch
import torchvision
import tf_keras
import keras

from exports import FLAVOURS, GOLDEN, SAMPLES, TOLERANCE

failures = 0
worst = 0.0


def convert(binary, source, output, *extra):
    result = subprocess.run([binary, "convert", source, "-o", output, "--force", *extra], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"vggconv convert {source} -> {output}: {result.stderr.strip()}")


def ends_in_softmax(model):
    last = model.layers[-1]
    return type(last).__name__ == "Softmax" or getattr(getattr(last, "activation", None), "__name__", "") == "softmax"


def report(label, output, golden, tolerance=TOLERANCE, top=5):
    global failures, worst
    scale = float(np.abs(golden).max())
    err = float(np.abs(output - golden).max())
    ok = bool(np.isfinite(output).all()) and err <= tolerance * scale
    if output.ndim == 2:
        k = min(top, output.shape[1])
        ranks = lambda a: [set(np.argsort(-row)[:k]) for row in a]
        ok = ok and ranks(output) == ranks(golden)
    if tolerance == TOLERANCE:
        worst = max(worst, err / scale)
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'}  {label:72s} max|err| {err:.3e} (scale {scale:.3e})", flush=True)


def attempt(label, run):
    global failures
    try:
        run()
    except Exception as error:  # a loader's refusal is a failed case, reported with its message
        failures += 1
        print(f"FAIL  {label:72s} {type(error).__name__}: {str(error)[:300]}", flush=True)


def check_sample(binary, work, model, source):
    x = np.load(os.path.join(GOLDEN, f"{model}_input_nhwc.npy"))
    def golden(m):  # PyTorch's outputs; feature maps in Keras's (N, H, W, C) order
        y = np.load(os.path.join(GOLDEN, f"{model}_torch_{'output' if ends_in_softmax(m) else 'logits'}.npy"))
        return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y
    stem = os.path.join(work, os.path.basename(source).replace(".", "_"))
    path = os.path.join(SAMPLES, source)
    tf_config = open(os.path.join(SAMPLES, f"{model}_tfkeras_config.json")).read()
    k3_config = open(os.path.join(SAMPLES, f"{model}_keras3_config.json")).read()
    name = f"{source} ->"

    def full_h5():
        convert(binary, path, stem + ".h5")
        for label, load in (("tf_keras.models.load_model", tf_keras.models.load_model), ("keras.models.load_model", keras.models.load_model)):
            m = load(stem + ".h5", compile=False)
            report(f"{name} .h5 {label}", m.predict(x, verbose=0), golden(m))

    def weights_h5():
        convert(binary, path, stem + "_w.h5", "--h5-content", "weights")
        for label, build in (("tf-keras", lambda: tf_keras.models.model_from_json(tf_config)),
                             ("Keras 3", lambda: keras.models.model_from_json(k3_config))):
            m = build()
            m.load_weights(stem + "_w.h5")
            report(f"{name} weights-only .h5 {label} load_weights", m.predict(x, verbose=0), golden(m))

    def keras3_weights():
        convert(binary, path, stem + ".weights.h5")
        m = keras.models.model_from_json(k3_config)
        m.load_weights(stem + ".weights.h5")
        report(f"{name} .weights.h5 Keras 3 load_weights", m.predict(x, verbose=0), golden(m))

    def archive():
        convert(binary, path, stem + ".keras")
        m = keras.saving.load_model(stem + ".keras", compile=False)
        report(f"{name} .keras keras.saving.load_model", m.predict(x, verbose=0), golden(m))

    for label, run in (("full .h5", full_h5), ("weights .h5", weights_h5), (".weights.h5", keras3_weights), (".keras", archive)):
        attempt(f"{name} {label}", run)


def zeroed(model):
    """The model with every variable set to zero, so that only the file under test can fill it."""
    for variable in model.weights:
        variable.assign(np.zeros(variable.shape, dtype="float32"))
    return model


def check_full_size(binary, work, arch, pth, x_nchw):
    reference = getattr(torchvision.models, arch)(weights=None)
    reference.load_state_dict(torch.load(pth, weights_only=True))
    reference.eval()
    with torch.no_grad():
        logits = reference(torch.from_numpy(x_nchw)).numpy()
    x = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))
    stem = os.path.join(work, f"{arch}_export")
    name = f"full-size torchvision {arch} ->"

    def full_h5():
        convert(binary, pth, stem + ".h5")
        for label, load in (("tf_keras.models.load_model", tf_keras.models.load_model), ("keras.models.load_model", keras.models.load_model)):
            report(f"{name} .h5 {label}", load(stem + ".h5", compile=False).predict(x, verbose=0), logits)

    def weights_h5():
        convert(binary, pth, stem + "_w.h5", "--h5-content", "weights")
        if arch == "vgg16":
            for label, applications in (("tf-keras", tf_keras.applications), ("Keras 3", keras.applications)):
                m = applications.VGG16(weights=stem + "_w.h5", classifier_activation=None)
                report(f"{name} weights-only .h5 {label} applications.VGG16(weights=PATH)", m.predict(x, verbose=0), logits)
        else:  # keras.applications has no VGG-BN: the architecture from the full .h5, weights from this file
            for label, load in (("tf-keras", tf_keras.models.load_model), ("Keras 3", keras.models.load_model)):
                m = zeroed(load(stem + ".h5", compile=False))
                m.load_weights(stem + "_w.h5")
                report(f"{name} weights-only .h5 {label} load_weights", m.predict(x, verbose=0), logits)

    def keras3_weights():
        convert(binary, pth, stem + ".weights.h5")
        if arch == "vgg16":
            m = keras.applications.VGG16(weights=None, classifier_activation=None)
        else:
            m = zeroed(keras.saving.load_model(stem + ".keras", compile=False))
        m.load_weights(stem + ".weights.h5")
        report(f"{name} .weights.h5 Keras 3 load_weights", m.predict(x, verbose=0), logits)

    def archive():
        convert(binary, pth, stem + ".keras")
        report(f"{name} .keras keras.saving.load_model", keras.saving.load_model(stem + ".keras", compile=False).predict(x, verbose=0), logits)

    def half():
        convert(binary, pth, stem + "_f16.keras", "--dtype", "f16")
        m = keras.saving.load_model(stem + "_f16.keras", compile=False)
        report(f"{name} --dtype f16 .keras (float16 datasets) load_model, tolerance 1e-2, top-1", m.predict(x, verbose=0), logits, 1e-2, 1)

    for label, run in (("full .h5", full_h5), ("weights .h5", weights_h5), (".keras", archive), (".weights.h5", keras3_weights), ("f16", half)):
        attempt(f"{name} {label}", run)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    only = os.environ.get("CHECK_MODELS", "").split(",")  # e.g. CHECK_MODELS=vgg_notop to rerun one model
    for model, sources in FLAVOURS.items():
        for source in sources if only == [""] or model in only else []:
            check_sample(binary, work, model, source)
    x = np.random.default_rng(7).normal(0, 1, (2, 3, 224, 224)).astype("float32")
    for arch in ("vgg16", "vgg16_bn") if only == [""] else ():
        pth = os.path.join(work, f"{arch}_torchvision.pth")
        if not os.path.exists(pth):
            torch.manual_seed(0)
            model = getattr(torchvision.models, arch)(weights=None)
            if arch == "vgg16_bn":  # non-trivial statistics, so a wrong epsilon or order shows
                for module in model.modules():
                    if isinstance(module, torch.nn.BatchNorm2d):
                        module.running_mean.uniform_(-0.5, 0.5)
                        module.running_var.uniform_(0.5, 2.0)
            torch.save(model.state_dict(), pth)
        check_full_size(binary, work, arch, pth, x)
    print(f"worst max|err| / max|golden| over float32 exports: {worst:.2e} (bar {TOLERANCE:.0e})")
    print("all Keras exports reproduce PyTorch's outputs" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
