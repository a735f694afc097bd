#!/usr/bin/env python3
"""Proves vggconv's PyTorch-side exports with the real loaders (run in the samples venv: `make check-exports`).

For every sample model, from every input flavour (tf-keras and Keras 3 files, torch.save files), and for
full-size VGG16 written by tf-keras and by torchvision: `vggconv convert IN -o OUT.pth`, then
- torch.load(OUT.pth, weights_only=True), with and without mmap=True, and safetensors.torch.load_file(OUT.safetensors);
- onnx.checker.check_model(OUT.onnx, full_check=True) and an onnxruntime InferenceSession;
- load_state_dict(strict=True) into torchvision's constructor when vggconv names one, else into the
  module that vggconv's OUT.py builds;
- run the framework's golden inputs and compare with the framework's own golden outputs:
  max |err| <= 1e-4 x max|golden| and identical top-5 for class scores.
Also: torchvision's VGG16 saved by safetensors.torch.save_file (no vggconv metadata) converts with vggconv,
and vggconv's own engine reproduces PyTorch's logits from it (`vggconv verify`).
Prints one line per case and a verdict; exits 1 on any failure.
usage: exports.py VGGCONV_BINARY WORK_DIR
"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import safetensors.torch
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "samples")
GOLDEN = os.path.join(SAMPLES, "golden")
TOLERANCE = 1e-4

FLAVOURS = {
    "vgg_small": ["vgg_small_tfkeras_model.h5", "vgg_small_keras3.keras", "vgg_small_keras3_model.h5",
                  "vgg_small_keras1_style.h5", "vgg_small.pth", "torch/vgg_small_legacy.pth"],
    "vgg_bn": ["vgg_bn_tfkeras_model.h5", "vgg_bn_keras3.keras", "vgg_bn.pth", "torch/vgg_bn_legacy.pth"],
    "vgg_dropout": ["vgg_dropout_tfkeras_model.h5", "vgg_dropout_keras3.keras", "vgg_dropout.pth"],
    "vgg_notop": ["vgg_notop_tfkeras_model.h5", "vgg_notop_keras3.keras", "vgg_notop.pth"],
}


def convert(binary, source, output):
    subprocess.run([binary, "convert", source, "-o", output, "--force"], check=True, capture_output=True, text=True)


def load_module(pth, classes):
    """The module the export loads into: torchvision's (named on vggconv's stdout) or OUT.py's."""
    module_file = os.path.splitext(pth)[0] + ".py"
    if os.path.exists(module_file):
        spec = importlib.util.spec_from_file_location("exported", module_file)
        exported = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(exported)
        return exported.build(), "OUT.py"
    return None, None


def compare(output, golden):
    scale = float(np.abs(golden).max())
    err = float(np.abs(output - golden).max())
    ok = np.isfinite(output).all() and err <= TOLERANCE * scale
    if output.ndim == 2:
        k = min(5, output.shape[1])
        top = lambda a: [set(np.argsort(-row)[:k]) for row in a]
        ok = ok and top(output) == top(golden)
    return ok, err, scale


LOADERS = {
    ".pth (mmap=False)": (".pth", lambda path: torch.load(path, weights_only=True)),
    ".pth (mmap=True)": (".pth", lambda path: torch.load(path, weights_only=True, mmap=True)),
    ".safetensors": (".safetensors", safetensors.torch.load_file),
}


def check(binary, work, source, golden_for, torchvision_name=None, classes=None, x=None, logits=False):
    """`logits`: compare before a final nn.Softmax (golden_for(False)), where probabilities saturate."""
    stem = os.path.join(work, os.path.basename(source).replace(".", "_"))
    results = []
    for label, (extension, load) in LOADERS.items():
        # The safetensors file gets its own stem: each export writes its module file beside it.
        path = stem + (".pth" if extension == ".pth" else "_st.safetensors")
        if label != ".pth (mmap=True)":  # the mmap load reads the file the previous pass wrote
            convert(binary, source, path)
        state = load(path)
        if torchvision_name:
            model, how = getattr(torchvision.models, torchvision_name)(weights=None, num_classes=classes), torchvision_name
        else:
            model, how = load_module(path, classes)
        model.load_state_dict(state, strict=True)
        model.eval()
        softmax = isinstance(list(model.modules())[-1], torch.nn.Softmax)
        if logits and softmax:
            model, softmax = model[:-1], False
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        ok, err, scale = compare(y, golden_for(softmax))
        results.append((ok, err, scale, how, label))
    return results


def check_onnx(binary, work, source, golden_for, x):
    """Converts to ONNX, checks the model with onnx.checker, runs it in onnxruntime."""
    path = os.path.join(work, os.path.basename(source).replace(".", "_") + ".onnx")
    convert(binary, source, path)
    onnx.checker.check_model(path, full_check=True)
    softmax = onnx.load(path, load_external_data=False).graph.node[-1].op_type == "Softmax"
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = session.run(None, {"input": x})[0]
    ok, err, scale = compare(y, golden_for(softmax))
    return ok, err, scale


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = 0
    for model, sources in FLAVOURS.items():
        x = np.load(os.path.join(GOLDEN, f"{model}_input_nchw.npy"))
        golden = lambda softmax, m=model: np.load(os.path.join(GOLDEN, f"{m}_torch_{'output' if softmax else 'logits'}.npy"))
        for source in sources:
            for ok, err, scale, how, label in check(binary, work, os.path.join(SAMPLES, source), golden, x=x):
                failures += not ok
                print(f"{'PASS' if ok else 'FAIL'}  {source:30s} -> {label:17s} strict load into {how:6s} "
                      f"max|err| {err:.3e} (scale {scale:.3e})")
            ok, err, scale = check_onnx(binary, work, os.path.join(SAMPLES, source), golden, x)
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'}  {source:30s} -> .onnx             onnx.checker + onnxruntime "
                  f"max|err| {err:.3e} (scale {scale:.3e})")
    # BatchNorm with scale=False / center=False (Keras) exported with the constants PyTorch needs, against
    # tf-keras's own predictions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    variants = os.path.join(SAMPLES, "bn_variants_tfkeras_model.h5")
    keras_variants = tf_keras.models.load_model(variants, compile=False)
    xv = np.random.default_rng(3).normal(0, 1, (2,) + tuple(keras_variants.input_shape[1:])).astype("float32")
    keras_variants.layers[-1].activation = tf_keras.activations.linear  # compare logits: probabilities saturate
    expected = keras_variants.predict(xv, verbose=0)
    for ok, err, scale, how, label in check(binary, work, variants, lambda _: expected,
                                            x=np.ascontiguousarray(xv.transpose(0, 3, 1, 2)), logits=True):
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  bn_variants_tfkeras_model.h5 -> {label:17s} strict load into {how:6s} logits vs tf-keras "
              f"max|err| {err:.3e} (scale {scale:.3e})")
    # --input-layout nhwc: the Keras-style input a Keras user feeds.
    nhwc = os.path.join(work, "vgg_small_nhwc.onnx")
    subprocess.run([binary, "convert", os.path.join(SAMPLES, "vgg_small_keras3.keras"), "-o", nhwc, "--input-layout", "nhwc",
                    "--force"], check=True, capture_output=True)
    onnx.checker.check_model(nhwc, full_check=True)
    y = onnxruntime.InferenceSession(nhwc, providers=["CPUExecutionProvider"]).run(
        None, {"input": np.load(os.path.join(GOLDEN, "vgg_small_input_nhwc.npy"))})[0]
    ok, err, scale = compare(y, np.load(os.path.join(GOLDEN, "vgg_small_keras_output.npy")))
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'}  vgg_small_keras3.keras -> .onnx --input-layout nhwc, NHWC input vs Keras output "
          f"max|err| {err:.3e} (scale {scale:.3e})")
    # Full-size VGG16 from both frameworks (written by scripts/make_vgg16_*.py into WORK).
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (2, 3, 224, 224)).astype("float32")
    keras_file = os.path.join(work, "vgg16_tfkeras_model.h5")
    torch_file = os.path.join(work, "vgg16_torchvision.pth")
    if os.path.exists(torch_file):
        reference = torchvision.models.vgg16(weights=None)
        reference.load_state_dict(torch.load(torch_file, weights_only=True))
        reference.eval()
        with torch.no_grad():
            logits = reference(torch.from_numpy(x)).numpy()
        for ok, err, scale, how, label in check(binary, work, torch_file, lambda _: logits, "vgg16", 1000, x):
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'}  full-size torchvision VGG16 -> {label} strict load into {how} "
                  f"max|err| {err:.3e} (scale {scale:.3e}), top-5 identical")
        ok, err, scale = check_onnx(binary, work, torch_file, lambda _: logits, x)
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  full-size torchvision VGG16 -> .onnx onnx.checker + onnxruntime "
              f"max|err| {err:.3e} (scale {scale:.3e}), top-5 identical")
        # A safetensors file from elsewhere: torchvision's own state_dict saved by safetensors.
        foreign = os.path.join(work, "vgg16_foreign.safetensors")
        safetensors.torch.save_file(reference.state_dict(), foreign)
        np.save(os.path.join(work, "x.npy"), x)
        np.save(os.path.join(work, "logits.npy"), logits)
        convert(binary, foreign, os.path.join(work, "vgg16_foreign.vggw"))
        verdict = subprocess.run([binary, "verify", os.path.join(work, "vgg16_foreign.vggw"), "--input", os.path.join(work, "x.npy"),
                                  "--golden", os.path.join(work, "logits.npy")], capture_output=True, text=True)
        failures += verdict.returncode != 0
        print(f"{'PASS' if verdict.returncode == 0 else 'FAIL'}  safetensors.torch.save_file(torchvision vgg16) -> vggconv "
              f"-> vggconv verify: {verdict.stdout.strip().splitlines()[-1]}")
    if os.path.exists(keras_file):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tf_keras
        keras_model = tf_keras.models.load_model(keras_file, compile=False)
        # Keras's logits: the same network with the last Dense's softmax removed.
        keras_model.layers[-1].activation = tf_keras.activations.linear
        keras_logits = keras_model.predict(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), verbose=0)
        for ok, err, scale, how, label in check(binary, work, keras_file, lambda _: keras_logits, "vgg16", 1000, x):
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'}  full-size tf-keras VGG16 -> {label} strict load into {how} "
                  f"PyTorch logits vs Keras logits max|err| {err:.3e} (scale {scale:.3e}), top-5 identical")
        exp = np.exp(keras_logits - keras_logits.max(axis=1, keepdims=True))
        keras_probabilities = exp / exp.sum(axis=1, keepdims=True)
        ok, err, scale = check_onnx(binary, work, keras_file,
                                    lambda softmax: keras_probabilities if softmax else keras_logits, x)
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  full-size tf-keras VGG16 -> .onnx onnx.checker + onnxruntime vs Keras "
              f"max|err| {err:.3e} (scale {scale:.3e}), top-5 identical")
    # A Keras 3 VGG16 saved with save_weights (no config): --arch vgg16 supplies the layers, and the
    # result is bit-identical to converting the same model saved whole (.keras).
    import keras
    weights_only = os.path.join(work, "vgg16_keras3.weights.h5")
    whole = os.path.join(work, "vgg16_keras3.keras")
    if not (os.path.exists(whole) and os.path.exists(weights_only)):
        model3 = keras.applications.VGG16(weights=None)
        model3.save_weights(weights_only)
        model3.save(whole)
    a, b = os.path.join(work, "arch.vggw"), os.path.join(work, "whole.vggw")
    subprocess.run([binary, "convert", weights_only, "--arch", "vgg16", "-o", a, "--force"], check=True, capture_output=True)
    subprocess.run([binary, "convert", whole, "-o", b, "--force"], check=True, capture_output=True)
    crcs = lambda path: [line.split()[6] for line in subprocess.run([binary, "inspect", path], capture_output=True,
                                                                    text=True).stdout.splitlines()[2:]]
    same = crcs(a) == crcs(b) and len(crcs(a)) == 32
    failures += not same
    print(f"{'PASS' if same else 'FAIL'}  Keras 3 VGG16 .weights.h5 + --arch vgg16: all 32 tensors bit-identical to the .keras conversion")
    print("all exports reproduce their framework's outputs" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
