#!/usr/bin/env python3
"""Full-size proof of the image commands with the real frameworks (samples venv: `make check-images`).

On every photo in samples/images, with full-size VGG16 (random weights: ImageNet weights cannot be
downloaded here):
- `vggconv predict` on torchvision's VGG16 .pth vs torchvision's own (PIL + Resize(256) + CenterCrop(224)
  + Normalize, softmax of the logits), and on tf-keras's VGG16 .h5 vs Keras's own (load_img + preprocess_input
  + predict): top-5 identical, probabilities within 1e-4;
- `vggconv features --layer block5_pool` vs a Keras sub-model, within 1e-4 x max;
- `vggconv gradcam` vs Grad-CAM with PyTorch autograd at the last ReLU of `features`, within 1e-3 x max.
usage: images.py VGGCONV_BINARY WORK_DIR (WORK_DIR holds vgg16_torchvision.pth, vgg16_tfkeras_model.h5)
"""
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "samples", "images")
failures = 0


def report(ok, text):
    global failures
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'}  {text}", flush=True)


def vggconv(binary, *arguments):
    return subprocess.run([binary, *arguments], check=True, capture_output=True, text=True).stdout


def main():
    binary, work = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(IMAGES) if n.endswith((".jpg", ".png")))
    paths = [os.path.join(IMAGES, n) for n in names]
    pth, h5 = os.path.join(work, "vgg16_torchvision.pth"), os.path.join(work, "vgg16_tfkeras_model.h5")

    # PyTorch.
    model = torchvision.models.vgg16(weights=None)
    model.load_state_dict(torch.load(pth, weights_only=True))
    model.eval()
    preprocess = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                     transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    x = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        torch_probabilities = torch.softmax(model(x), dim=1).numpy()
    ours = json.loads(vggconv(binary, "predict", pth, *paths, "--top", "5", "--json"))
    compare_predictions("torchvision VGG16", names, ours, torch_probabilities)

    # Grad-CAM with autograd at the last ReLU of features (where vggconv's default block ends).
    activations = {}
    def keep(module, inputs, output):
        output.retain_grad()
        activations["a"] = output
    model.features[29].register_forward_hook(keep)
    for name, path in zip(names[:3], paths[:3]):
        logits = model(preprocess(Image.open(path).convert("RGB"))[None])
        top = int(logits.argmax())
        logits[0, top].backward()
        a, g = activations["a"].detach(), activations["a"].grad
        cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1, keepdim=True))
        reference = F.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].numpy()
        npy = os.path.join(work, "cam.npy")
        vggconv(binary, "gradcam", pth, path, "--png", os.path.join(work, f"gradcam_{os.path.splitext(name)[0]}.png"), "--npy", npy, "--force")
        err, scale = float(np.abs(np.load(npy) - reference).max()), float(reference.max())
        report(err <= 1e-3 * max(scale, 1e-12), f"gradcam {name} (class {top}) vs PyTorch autograd: max|err| {err:.3e}, map max {scale:.3e}")
        model.zero_grad()

    # Keras.
    import tf_keras
    from tf_keras.applications.vgg16 import preprocess_input
    keras_model = tf_keras.models.load_model(h5, compile=False)
    kx = np.stack([preprocess_input(tf_keras.utils.img_to_array(tf_keras.utils.load_img(p, target_size=(224, 224)))) for p in paths])
    keras_probabilities = keras_model.predict(kx, verbose=0)
    ours = json.loads(vggconv(binary, "predict", h5, *paths, "--top", "5", "--json"))
    compare_predictions("tf-keras VGG16", names, ours, keras_probabilities)
    pool = tf_keras.Model(keras_model.inputs, keras_model.get_layer("block5_pool").output).predict(kx, verbose=0)
    out = os.path.join(work, "features.npy")
    vggconv(binary, "features", h5, *paths, "--layer", "block5_pool", "-o", out, "--force", "--png", os.path.join(work, "features.png"))
    features = np.load(out)
    err, scale = float(np.abs(features - pool).max()), float(np.abs(pool).max())
    report(features.shape == pool.shape and err <= 1e-4 * scale, f"features block5_pool {features.shape} vs Keras sub-model: max|err| {err:.3e} (scale {scale:.3e})")
    print("all image checks pass" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


def compare_predictions(label, names, ours, probabilities):
    worst = 0.0
    same = True
    for name, row, p in zip(names, ours, probabilities):
        top = [c["index"] for c in row["top"]]
        same = same and top == list(np.argsort(-p)[:5])
        worst = max(worst, max(abs(c["probability"] - float(p[c["index"]])) for c in row["top"]))
    report(same and worst <= 1e-4, f"predict {label} on {len(names)} photos: top-5 identical {same}, max |probability diff| {worst:.2e}")


if __name__ == "__main__":
    sys.exit(main())
