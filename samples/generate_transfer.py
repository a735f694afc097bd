#!/usr/bin/env python3
"""Writes the transfer-learning samples under samples/transfer/ with the real frameworks (run by
`make samples` after generate.py): what people save after fine-tuning a VGG, as the seed articles teach.

Keras (tf-keras and Keras 3, the same weights in both), each around a small functional VGG16-shaped base
(`vgg_base`: VGG16's 13 convolutions and 5 pools at 1/32 of the width, so Keras 3 numbers conv2d_10
before conv2d_2):
- tl_flatten: Sequential[base, Flatten, Dense relu, Dropout, Dense(1, sigmoid)], block5 unfrozen (so
  `weight_names` lists block5 first), one `fit` step (optimizer state in the files);
- tl_gap: Functional[Input, base (frozen), GlobalAveragePooling2D, Dense softmax], one `fit` step;
- tl_gmp_keepdims: Sequential[base, GlobalMaxPooling2D(keepdims=True), Flatten, Dense softmax];
- tl_features: the `VGG16(include_top=False, pooling='avg')` shape: one functional model ending in GAP.
Each is saved as tf-keras `.h5` (full model) and weights-only `.h5` + `to_json()`, and as Keras 3
`.keras`, legacy `.h5`, `.weights.h5` and sharded weights (`save_weights(max_shard_size=…)`). Keras's own
`summary()` of each file as loaded back (plain and expand_nested) is captured, and its outputs on an input.

PyTorch (torch.save of state_dicts), each around a torchvision-style `features` stack:
- tl_torch_seq: nn.Sequential(features, AdaptiveAvgPool2d(1), Flatten, Linear) — keys 0.0.weight … 3.weight;
- tl_torch_backbone: a module with `backbone` and `head`, averaging in forward — backbone.N, head;
- tl_torch_prefixed: `model.features.N` and `model.classifier.1` (Dropout, Linear) behind a wrapper;
- tl_torch_maxpool: features + AdaptiveMaxPool2d(1) + Flatten + Linear (needs --pool max);
- tl_torch_unpinned: a head whose input width no pooling explains (must be refused).
An ImageFolder of the sample photos and variants (transfer/eval) with what Keras's and torchvision's own
pipelines compute on it, for `evaluate`.
"""
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["COLUMNS"] = "200"
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import torch
import torch.nn as nn
# Before TensorFlow: imported after it, torchvision's transforms abort on a clash of LLVM options.
from torchvision import datasets, transforms

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "transfer")
# VGG16's layer plan at 1/32 of its widths: (block, convolutions, filters).
BASE_BLOCKS = [(1, 2, 2), (2, 2, 4), (3, 3, 8), (4, 3, 16), (5, 3, 16)]
INPUT = (32, 32, 3)


def vgg_base(km, name="vgg_base"):
    """A functional VGG16-shaped base, keras.applications' layer names."""
    inputs = km.layers.Input(INPUT, name="input_base")
    x = inputs
    for block, convs, filters in BASE_BLOCKS:
        for c in range(1, convs + 1):
            x = km.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{block}_conv{c}")(x)
        x = km.layers.MaxPooling2D(2, 2, name=f"block{block}_pool")(x)
    return km.Model(inputs, x, name=name)


def build(km, kind):
    L = km.layers
    base = vgg_base(km)
    if kind == "tl_flatten":
        for layer in base.layers:
            layer.trainable = layer.name.startswith("block5")
        return km.Sequential([L.Input(INPUT), base, L.Flatten(name="flatten"), L.Dense(8, activation="relu", name="dense"),
                              L.Dropout(0.5, name="dropout"), L.Dense(1, activation="sigmoid", name="dense_1")], name="tl_flatten")
    if kind == "tl_gap":
        base.trainable = False
        inputs = L.Input(INPUT, name="image")
        x = base(inputs)
        x = L.GlobalAveragePooling2D(name="gap")(x)
        outputs = L.Dense(3, activation="softmax", name="predictions")(x)
        return km.Model(inputs, outputs, name="tl_gap")
    if kind == "tl_gmp_keepdims":
        return km.Sequential([L.Input(INPUT), base, L.GlobalMaxPooling2D(keepdims=True, name="gmp"),
                              L.Flatten(name="flatten"), L.Dense(4, activation="softmax", name="predictions")], name="tl_gmp_keepdims")
    if kind == "tl_features":
        x = L.GlobalAveragePooling2D(name="global_average_pooling2d")(base.output)
        return km.Model(base.input, x, name="vgg_features")
    raise ValueError(kind)


KERAS_MODELS = ["tl_flatten", "tl_gap", "tl_gmp_keepdims", "tl_features"]
TRAINED = {"tl_flatten": ("binary_crossentropy", 1), "tl_gap": ("sparse_categorical_crossentropy", 3)}


def flat_layers(model):
    """The model's leaf layers in call order, nested models opened (InputLayers left out)."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            out += flat_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            out.append(layer)
    return out


def canonical_names(layers):
    """vggconv's canonical names (docs/native-format.md), written out independently of vggconv."""
    names, block, conv, dense, counters = [], 1, 0, 0, {}
    dense_total = sum(type(l).__name__ == "Dense" for l in layers)
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            conv += 1
            names.append(f"block{block}_conv{conv}")
        elif kind == "MaxPooling2D":
            names.append(f"block{block}_pool")
            block, conv = block + 1, 0
        elif kind == "Dense":
            dense += 1
            names.append("predictions" if dense == dense_total else f"fc{dense}")
        else:
            base = {"Flatten": "flatten", "Dropout": "dropout", "GlobalAveragePooling2D": "global_average_pooling2d",
                    "GlobalMaxPooling2D": "global_max_pooling2d"}[kind]
            n = counters.get(base, 0)
            counters[base] = n + 1
            names.append(base if n == 0 else f"{base}_{n}")
    return names


def expected_tensors(model, folder):
    """Keras's arrays in canonical layout (OIHW, (out, in), Flatten rows C,H,W), by canonical name."""
    os.makedirs(folder)
    layers = flat_layers(model)
    suffix = {"kernel": "weight", "bias": "bias"}
    flatten_map = None
    for layer, name in zip(layers, canonical_names(layers)):
        kind = type(layer).__name__
        if kind == "Flatten":
            shape = layer.input.shape if hasattr(layer, "input") else None
            flatten_map = tuple(int(d) for d in shape[1:]) if shape is not None and len(shape) == 4 else None
        for variable, value in zip(layer.weights, layer.get_weights()):
            leaf = variable.name.split("/")[-1].split(":")[0]
            if value.ndim == 4:
                value = value.transpose(3, 2, 0, 1)
            elif value.ndim == 2:
                if flatten_map and flatten_map[0] * flatten_map[1] > 1:
                    h, w, c = flatten_map
                    value = value.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                value = value.T
            np.save(os.path.join(folder, f"{name}.{suffix[leaf]}.npy"), np.ascontiguousarray(value))
        if kind == "Dense":
            flatten_map = None
    return canonical_names(layers)


def randomize(model, rng):
    """Non-zero biases: a wrong mapping of biases cannot pass."""
    model.set_weights([w if w.ndim > 1 else rng.normal(0, 0.05, w.shape).astype("float32") for w in model.get_weights()])


def summary_text(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda line, *args, **kw: lines.append(line), **kwargs)
    return "\n".join(lines) + "\n"


def write_keras(tf_keras, keras, manifest):
    rng = np.random.default_rng(29)
    x = rng.normal(0, 1, (3,) + INPUT).astype("float32")
    np.save(os.path.join(OUT, "keras_input_nhwc.npy"), x)
    for kind in KERAS_MODELS:
        tf_keras.utils.set_random_seed(29)
        tfk = build(tf_keras, kind)
        randomize(tfk, rng)
        k3 = build(keras, kind)
        k3.set_weights(tfk.get_weights())
        if kind in TRAINED:
            loss, classes = TRAINED[kind]
            y = rng.integers(0, max(classes, 2), (4,)).astype("float32")
            xs = rng.normal(0, 1, (4,) + INPUT).astype("float32")
            for m in (tfk, k3):
                m.compile(optimizer=(tf_keras if m is tfk else keras).optimizers.Adam(1e-3), loss=loss)
                m.fit(xs, y, epochs=1, batch_size=4, verbose=0)
            k3.set_weights(tfk.get_weights())  # the same weights in both after their own training step
        files = {}

        def out(suffix):
            files[suffix] = f"{kind}{suffix}"
            return os.path.join(OUT, f"{kind}{suffix}")

        tfk.save(out("_tfkeras_model.h5"))
        tfk.save_weights(out("_tfkeras_weights.h5"))
        with open(out("_tfkeras_config.json"), "w") as f:
            f.write(tfk.to_json())
        k3.save(out("_keras3.keras"))
        k3.save(out("_keras3_model.h5"))
        k3.save_weights(out("_keras3.weights.h5"))
        if kind == "tl_gap":  # save_model(zipped=False): a folder with config.json and model.weights.h5
            keras.saving.save_model(k3, os.path.join(OUT, f"{kind}_keras3_folder"), zipped=False)
            files["_keras3_folder"] = f"{kind}_keras3_folder"
        with open(out("_keras3_config.json"), "w") as f:
            f.write(k3.to_json())
        # Sharded: an index NAME.weights.json beside NAME_0000N.weights.h5 shards (max_shard_size in GB).
        shard_dir = os.path.join(OUT, f"{kind}_sharded")
        os.makedirs(shard_dir)
        k3.save_weights(os.path.join(shard_dir, "model.weights.json"), max_shard_size=0.00002)
        files["_sharded"] = f"{kind}_sharded/model.weights.json"

        summaries = {}
        for label, loaded in [("tfkeras", tf_keras.models.load_model(out("_tfkeras_model.h5"), compile=True)),
                              ("keras3", keras.saving.load_model(out("_keras3.keras"))),
                              ("keras3_h5", keras.saving.load_model(out("_keras3_model.h5")))]:
            for expand in (False, True):
                name = f"{kind}_{label}{'_expanded' if expand else ''}.txt"
                with open(os.path.join(OUT, "summaries", name), "w") as f:
                    f.write(summary_text(loaded, expand_nested=expand))
                summaries[f"{label}{'_expanded' if expand else ''}"] = name

        y_tfk = tfk.predict(x, verbose=0)
        y_k3 = np.asarray(k3.predict(x, verbose=0))
        scale = max(float(np.abs(y_tfk).max()), 1.0)
        assert np.abs(y_tfk - y_k3).max() <= 1e-5 * scale, (kind, np.abs(y_tfk - y_k3).max())
        np.save(os.path.join(OUT, f"{kind}_keras_output.npy"), y_tfk)
        layers = expected_tensors(tfk, os.path.join(OUT, "expected", kind))
        manifest[kind] = dict(files=files, summaries=summaries, layers=layers, input="keras_input_nhwc.npy",
                              output=f"{kind}_keras_output.npy", params_total=int(tfk.count_params()))


def write_photo_predictions(keras, manifest):
    """The sigmoid head's P(class 1) for two sample photos, through Keras's own image pipeline
    (load_img nearest to 32x32, 'caffe' preprocess_input): what `vggconv predict` must print."""
    from keras.applications.vgg16 import preprocess_input
    model = keras.saving.load_model(os.path.join(OUT, "tl_flatten_keras3.keras"))
    photos = ["astronaut_q90.jpg", "chelsea.png"]
    batch = np.stack([np.asarray(keras.utils.load_img(os.path.join(HERE, "images", p), target_size=INPUT[:2]), dtype="float32")
                      for p in photos])
    probability = np.asarray(model.predict(preprocess_input(batch), verbose=0))[:, 0]
    np.save(os.path.join(OUT, "tl_flatten_photo_probability.npy"), probability.astype("float32"))
    manifest["tl_flatten"]["photos"] = photos


def write_eval_folder():
    """An ImageFolder of the sample photos and variants (mirrored, rotated, cropped, darkened, re-encoded as
    JPEG), one subfolder per class, small sizes: what `vggconv evaluate` reads."""
    from PIL import Image, ImageEnhance, ImageOps
    folder = os.path.join(OUT, "eval")
    sources = {"astronaut": "astronaut_q90.jpg", "cat": "chelsea.png", "rocket": "rocket.jpg"}
    for label, name in sources.items():
        os.makedirs(os.path.join(folder, label))
        image = Image.open(os.path.join(HERE, "images", name)).convert("RGB")
        image.thumbnail((96, 96))
        w, h = image.size
        variants = {"original.png": image, "mirrored.png": ImageOps.mirror(image), "rotated.png": image.rotate(90, expand=True),
                    "cropped.png": image.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
                    "dark.png": ImageEnhance.Brightness(image).enhance(0.6)}
        for variant, picture in variants.items():
            picture.save(os.path.join(folder, label, variant))
        image.save(os.path.join(folder, label, "q75.jpg"), quality=75)
    with open(os.path.join(folder, "README.txt"), "w") as f:
        f.write("Not images: a file evaluate must skip, as Keras's and torchvision's folder readers do.\n")
    return folder


def keras_evaluation(keras, folder, model_file, classes):
    """What Keras's own pipeline computes for the folder: load_img (nearest, to the model's size),
    'caffe' preprocess_input, predict; classes in sorted folder order, as image_dataset_from_directory
    assigns them."""
    from keras.applications.vgg16 import preprocess_input
    model = keras.saving.load_model(model_file)
    names = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    assert len(names) == classes
    confusion = np.zeros((classes, classes), dtype=int)
    top1 = []
    for truth, name in enumerate(names):
        for file in sorted(os.listdir(os.path.join(folder, name))):
            image = keras.utils.load_img(os.path.join(folder, name, file), target_size=INPUT[:2])
            scores = np.asarray(model.predict(preprocess_input(np.asarray(image, dtype="float32")[None]), verbose=0))[0]
            confusion[truth, int(np.argmax(scores))] += 1
            top1.append(int(np.argmax(scores)) == truth)
    return dict(n=len(top1), top1=float(np.mean(top1)), confusion=confusion.tolist(), classes=names)


def torch_evaluation(model, folder):
    """What torchvision's own pipeline computes: ImageFolder with Resize(73) + CenterCrop(64) (the 256/224 recipe at 64) + ToTensor +
    ImageNet Normalize, batches through the model."""
    transform = transforms.Compose([transforms.Resize(64 * 256 // 224), transforms.CenterCrop(64), transforms.ToTensor(),
                                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    data = datasets.ImageFolder(folder, transform=transform)
    classes = len(data.classes)
    confusion = np.zeros((classes, classes), dtype=int)
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(data, batch_size=4, shuffle=False):
            for truth, predicted in zip(y.tolist(), model(x).argmax(1).tolist()):
                confusion[truth, predicted] += 1
    n = int(confusion.sum())
    return dict(n=n, top1=float(np.trace(confusion) / n), confusion=confusion.tolist(), classes=data.classes)


def torch_features():
    """torchvision's features layout (Conv, ReLU, …, MaxPool) for the same small VGG16 plan."""
    modules, channels = [], 3
    for _, convs, filters in BASE_BLOCKS:
        for _ in range(convs):
            modules += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(inplace=True)]
            channels = filters
        modules.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*modules), channels


class Backbone(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.backbone, width = torch_features()
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.backbone(x).mean(dim=(2, 3)))


class Prefixed(nn.Module):
    """A user's wrapper around a VGG-like inner module: keys model.features.N, model.classifier.1."""
    def __init__(self, classes):
        super().__init__()
        features, width = torch_features()
        self.model = nn.Module()
        self.model.features = features
        self.model.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(width, classes))

    def forward(self, x):
        pooled = nn.functional.adaptive_avg_pool2d(self.model.features(x), 1).flatten(1)
        return self.model.classifier(pooled)


def build_torch(kind):
    features, width = torch_features()
    if kind == "tl_torch_seq":
        return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 5))
    if kind == "tl_torch_maxpool":
        return nn.Sequential(features, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(width, 3))
    if kind == "tl_torch_backbone":
        return Backbone(3)
    if kind == "tl_torch_prefixed":
        return Prefixed(4)
    if kind == "tl_torch_unpinned":  # a head taking 20 inputs from 16 channels: no pooling or flatten explains it
        model = Backbone(3)
        model.head = nn.Linear(20, 3)
        return model
    raise ValueError(kind)


def write_torch(manifest):
    rng = np.random.default_rng(31)
    # 64x64: the last map is 2x2, so average and maximum pooling differ (at 32x32 it is 1x1).
    x = rng.normal(0, 1, (3, INPUT[2], 2 * INPUT[0], 2 * INPUT[1])).astype("float32")
    np.save(os.path.join(OUT, "torch_input_nchw.npy"), x)
    for kind in ["tl_torch_seq", "tl_torch_maxpool", "tl_torch_backbone", "tl_torch_prefixed", "tl_torch_unpinned"]:
        torch.manual_seed(31)
        model = build_torch(kind).eval()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(torch.randn_like(parameter) * 0.3)
        if kind == "tl_torch_unpinned":
            torch.save(model.state_dict(), os.path.join(OUT, f"{kind}.pth"))
            continue
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        torch.save(model.state_dict(), os.path.join(OUT, f"{kind}.pth"))
        if kind == "tl_torch_backbone":
            with open(os.path.join(OUT, f"{kind}_evaluation.json"), "w") as f:
                json.dump(torch_evaluation(model, os.path.join(OUT, "eval")), f, indent=1)
        np.save(os.path.join(OUT, f"{kind}_torch_output.npy"), y)
        manifest[kind] = dict(files={".pth": f"{kind}.pth"}, input="torch_input_nchw.npy", output=f"{kind}_torch_output.npy",
                              keys=list(model.state_dict().keys()))


def main():
    import tf_keras
    import keras

    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "summaries"))
    os.makedirs(os.path.join(OUT, "expected"))
    manifest = {}
    folder = write_eval_folder()
    write_keras(tf_keras, keras, manifest)
    write_photo_predictions(keras, manifest)
    with open(os.path.join(OUT, "tl_gap_evaluation.json"), "w") as f:
        json.dump(keras_evaluation(keras, folder, os.path.join(OUT, "tl_gap_keras3.keras"), 3), f, indent=1)
    write_torch(manifest)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(dict(generator="samples/generate_transfer.py",
                       versions=dict(tf_keras=tf_keras.__version__, keras=keras.__version__,
                                     torch=torch.__version__.split("+")[0]), models=manifest), f, indent=1, sort_keys=True)
    print("transfer samples written to", OUT)


if __name__ == "__main__":
    sys.exit(main())
