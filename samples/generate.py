#!/usr/bin/env python3
"""Writes vggconv's sample models with the real frameworks (run it through `make samples`).

Every model file under samples/ is written by tf-keras, Keras 3 or PyTorch themselves, with one
marked exception (the Keras-1-era pretrained-file layout, see write_keras1_style). For each model the
generator also writes, straight from PyTorch's state_dict, the tensors a correct conversion must
produce (samples/expected/<model>/<canonical name>.npy), inputs, and each framework's outputs.

The Keras model is the source of truth for the weights; the PyTorch twin receives them through numpy
transposes written here, and the script asserts that both frameworks then compute the same outputs,
so the expected tensors are proven by the frameworks, not by vggconv.
"""
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["COLUMNS"] = "200"  # Keras 3 renders summaries with rich, which crops at the console width
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py
import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "expected")
GOLDEN = os.path.join(HERE, "golden")

# Layer plans: ("conv", filters) | ("bn",) | ("relu",) | ("pool",) | ("dropout", rate) |
# ("flatten",) | ("dense", units) | ("softmax_dense", units)
MODELS = {
    # More than 10 convolutions (Keras 3's conv2d_10 sorts before conv2d_2) and a 2x2 map at Flatten.
    "vgg_small": dict(input=(32, 32, 3), plan=[
        ("conv", 8), ("conv", 8), ("pool",),
        ("conv", 16), ("conv", 16), ("conv", 16), ("pool",),
        ("conv", 16), ("conv", 16), ("conv", 16), ("pool",),
        ("conv", 24), ("conv", 24), ("conv", 24), ("pool",),
        ("flatten",), ("dense", 32), ("dense", 16), ("softmax_dense", 10)]),
    # BatchNormalization after convolutions, as torchvision's vgg*_bn place it (conv, BN, ReLU).
    "vgg_bn": dict(input=(32, 32, 3), plan=[
        ("conv_linear", 8), ("bn",), ("relu",), ("pool",),
        ("conv_linear", 16), ("bn",), ("relu",), ("pool",),
        ("conv_linear", 16), ("bn",), ("relu",), ("pool",),
        ("flatten",), ("dense", 24), ("softmax_dense", 5)]),
    # include_top=False: convolutions and pools only.
    "vgg_notop": dict(input=(32, 32, 3), plan=[
        ("conv", 8), ("conv", 8), ("pool",), ("conv", 16), ("conv", 16), ("pool",)]),
    # The shape of seed article 004: Dropout after every pool and a single hidden Dense.
    "vgg_dropout": dict(input=(32, 32, 3), plan=[
        ("conv", 8), ("conv", 8), ("pool",), ("dropout", 0.25),
        ("conv", 16), ("conv", 16), ("pool",), ("dropout", 0.25),
        ("flatten",), ("dense", 16), ("dropout", 0.5), ("softmax_dense", 4)]),
}


def canonical_names(plan):
    """The canonical names vggconv promises (docs/native-format.md), written out independently."""
    names, block, conv, dense_seen, last = [], 1, 0, 0, None
    dense_total = sum(1 for p in plan if p[0] in ("dense", "softmax_dense"))
    counters = {}
    for p in plan:
        kind = p[0]
        if kind in ("conv", "conv_linear"):
            conv += 1
            last = f"block{block}_conv{conv}"
            names.append(last)
        elif kind == "pool":
            names.append(f"block{block}_pool")
            block, conv = block + 1, 0
        elif kind in ("dense", "softmax_dense"):
            dense_seen += 1
            last = "predictions" if dense_seen == dense_total else f"fc{dense_seen}"
            names.append(last)
        elif kind == "bn":
            names.append(f"{last}_bn")
        else:
            base = {"relu": "re_lu", "dropout": "dropout", "flatten": "flatten"}[kind]
            n = counters.get(base, 0)
            counters[base] = n + 1
            names.append(base if n == 0 else f"{base}_{n}")
    return names


def build_keras(layers_mod, models_mod, spec, name):
    """The same Sequential model in tf-keras or Keras 3, layer names = canonical names."""
    h, w, c = spec["input"]
    model = models_mod.Sequential(name=name)
    model.add(layers_mod.Input(shape=(h, w, c)))
    for (p, lname) in zip(spec["plan"], canonical_names(spec["plan"])):
        kind = p[0]
        if kind == "conv":
            model.add(layers_mod.Conv2D(p[1], 3, padding="same", activation="relu", name=lname))
        elif kind == "conv_linear":
            model.add(layers_mod.Conv2D(p[1], 3, padding="same", name=lname))
        elif kind == "bn":
            # epsilon 1e-5 (PyTorch's default) so the PyTorch twin, whose state_dict cannot record it, matches
            model.add(layers_mod.BatchNormalization(epsilon=1e-5, name=lname))
        elif kind == "relu":
            model.add(layers_mod.ReLU(name=lname))
        elif kind == "pool":
            model.add(layers_mod.MaxPooling2D(2, 2, name=lname))
        elif kind == "dropout":
            model.add(layers_mod.Dropout(p[1], name=lname))
        elif kind == "flatten":
            model.add(layers_mod.Flatten(name=lname))
        elif kind == "dense":
            model.add(layers_mod.Dense(p[1], activation="relu", name=lname))
        elif kind == "softmax_dense":
            model.add(layers_mod.Dense(p[1], activation="softmax", name=lname))
    return model


def randomize(model, rng):
    """Non-zero biases and non-trivial BatchNormalization statistics, so a wrong mapping cannot pass."""
    for layer in model.layers:
        if type(layer).__name__ in ("Conv2D", "Dense"):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.05, bias.shape).astype("float32")])
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                               rng.normal(0, 0.1, beta.shape).astype("float32"),
                               rng.normal(0, 0.1, mean.shape).astype("float32"),
                               rng.uniform(0.5, 2.0, var.shape).astype("float32")])


def torch_twin(spec):
    """An nn.Sequential with the same computation in NCHW, plus its canonical name per module index."""
    h, w, c = spec["input"]
    mods, owners = [], []
    channels, spatial, flat = c, (h, w), None
    for p, lname in zip(spec["plan"], canonical_names(spec["plan"])):
        kind = p[0]
        if kind in ("conv", "conv_linear"):
            mods.append(nn.Conv2d(channels, p[1], 3, padding=1)); owners.append(lname)
            channels = p[1]
            if kind == "conv":
                mods.append(nn.ReLU()); owners.append(None)
        elif kind == "bn":
            mods.append(nn.BatchNorm2d(channels)); owners.append(lname)
        elif kind == "relu":
            mods.append(nn.ReLU()); owners.append(None)
        elif kind == "pool":
            mods.append(nn.MaxPool2d(2, 2)); owners.append(None)
            spatial = (spatial[0] // 2, spatial[1] // 2)
        elif kind == "dropout":
            mods.append(nn.Dropout(p[1])); owners.append(None)
        elif kind == "flatten":
            mods.append(nn.Flatten()); owners.append(None)
            flat = channels * spatial[0] * spatial[1]
        elif kind in ("dense", "softmax_dense"):
            mods.append(nn.Linear(flat, p[1])); owners.append(lname)
            flat = p[1]
            mods.append(nn.ReLU() if kind == "dense" else nn.Softmax(dim=1)); owners.append(None)
    return nn.Sequential(*mods), owners


def copy_keras_to_torch(kmodel, tmodel, owners, spec):
    """Keras HWIO/(in,out)/HWC-flatten weights into PyTorch OIHW/(out,in)/CHW-flatten."""
    by_name = {layer.name: layer for layer in kmodel.layers}
    h, w, _ = spec["input"]
    pending_flatten = None
    shape_hw = (h, w)
    last_channels = None
    for p in spec["plan"]:
        if p[0] == "pool":
            shape_hw = (shape_hw[0] // 2, shape_hw[1] // 2)
        if p[0] in ("conv", "conv_linear"):
            last_channels = p[1]
        if p[0] == "flatten":
            pending_flatten = (shape_hw[0], shape_hw[1], last_channels)
            break
    first_dense = True
    with torch.no_grad():
        for module, owner in zip(tmodel, owners):
            if owner is None:
                continue
            weights = by_name[owner].get_weights()
            if isinstance(module, nn.Conv2d):
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[0].transpose(3, 2, 0, 1))))
                module.bias.copy_(torch.from_numpy(weights[1]))
            elif isinstance(module, nn.Linear):
                kernel = weights[0]
                if first_dense and pending_flatten:
                    fh, fw, fc = pending_flatten
                    kernel = kernel.reshape(fh, fw, fc, -1).transpose(2, 0, 1, 3).reshape(fh * fw * fc, -1)
                first_dense = False
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
                module.bias.copy_(torch.from_numpy(weights[1]))
            elif isinstance(module, nn.BatchNorm2d):
                gamma, beta, mean, var = weights
                module.weight.copy_(torch.from_numpy(gamma)); module.bias.copy_(torch.from_numpy(beta))
                module.running_mean.copy_(torch.from_numpy(mean)); module.running_var.copy_(torch.from_numpy(var))


def canonical_state(tmodel, owners):
    """Canonical name → tensor, from PyTorch's own state_dict."""
    out = {}
    suffix = {"weight": "weight", "bias": "bias", "running_mean": "running_mean", "running_var": "running_var"}
    state = tmodel.state_dict()
    for index, owner in enumerate(owners):
        if owner is None:
            continue
        for key, value in state.items():
            prefix, _, leaf = key.rpartition(".")
            if prefix == str(index) and leaf in suffix:
                out[f"{owner}.{suffix[leaf]}"] = value.numpy()
    return out


def write_keras1_style(tfk_model, path, chunk_layer_names=False):
    """REPRODUCED WITH h5py, not written by a framework: no installable framework still writes the
    Keras-1-era layout of the classic pretrained files (vgg16_weights_tf_dim_ordering_tf_kernels.h5).
    Layout from the documented file (see ../shared/docs/formats.md §1a, sources:
    fchollet/deep-learning-models vgg16.py release files as indexed by genforce/idinvert_pytorch
    models/perceptual_model.py — 'block1_conv1_W_1:0' — and a published attribute dump of the sibling
    resnet50 file showing only `layer_names` at the root): one group per layer, flat datasets
    `<layer>_W_1:0` / `<layer>_b_1:0` in TF kernel layout, `weight_names` per group, no keras_version.
    With chunk_layer_names, the root attribute is split into layer_names0, layer_names1 the way Keras
    splits attributes above its 64512-byte object-header limit."""
    with h5py.File(path, "w") as f:
        names = [layer.name.encode("utf8") for layer in tfk_model.layers]
        if chunk_layer_names:
            half = len(names) // 2
            f.attrs["layer_names0"] = np.array(names[:half])
            f.attrs["layer_names1"] = np.array(names[half:])
        else:
            f.attrs["layer_names"] = np.array(names)
        for layer in tfk_model.layers:
            g = f.create_group(layer.name)
            weights = layer.get_weights()
            wnames = [f"{layer.name}_{tag}_1:0".encode("utf8") for tag in ("W", "b")[:len(weights)]]
            g.attrs["weight_names"] = np.array(wnames, dtype="S") if wnames else np.array([], dtype="S1")
            for wname, value in zip(wnames, weights):
                g.create_dataset(wname.decode("utf8"), data=value)


def save_summary(model, path):
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_generic_pair(tf_keras):
    """A tf-keras model with automatic layer names (conv2d, max_pooling2d_1, dense, …), pools with
    padding='same' over odd spatial sizes (15 -> 8, 3 -> 2), a 1x1 and a stride-2 'valid' convolution,
    and BatchNormalization after a Dense, shipped
    the Keras-2 way: model.to_json() beside a weights-only .h5. Expected canonical tensors are Keras's
    arrays in canonical layout; Keras's own summary text is captured."""
    tf_keras.backend.clear_session()
    layers = tf_keras.layers
    rng = np.random.default_rng(11)
    model = tf_keras.Sequential([
        layers.Input((15, 15, 3)), layers.Conv2D(6, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2, padding="same"), layers.Conv2D(8, 1),  # a 1x1 convolution
        layers.Conv2D(8, 3, padding="same"), layers.Activation("relu"),
        layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu"),  # stride 2, valid: 8 -> 3
        layers.MaxPooling2D(2, padding="same"), layers.Dropout(0.3), layers.Flatten(), layers.Dense(16),
        layers.BatchNormalization(), layers.Activation("relu"), layers.Dense(3, activation="softmax")])
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") if w.ndim > 1 else
                       rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])
    model.save_weights(os.path.join(HERE, "generic_tfkeras_weights.h5"))
    with open(os.path.join(HERE, "generic_tfkeras_config.json"), "w") as f:
        f.write(model.to_json())
    save_summary(model, os.path.join(HERE, "summaries", "generic_tfkeras.txt"))
    names = ["block1_conv1", "block1_pool", "block2_conv1", "block2_conv2", "activation", "block2_conv3", "block2_pool",
             "dropout", "flatten", "fc1", "fc1_bn", "activation_1", "predictions"]
    folder = os.path.join(EXPECTED, "generic")
    os.makedirs(folder)
    suffix = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
              "moving_mean": "running_mean", "moving_variance": "running_var"}
    for layer, cname in zip(model.layers, names):
        for var, value in zip(layer.weights, layer.get_weights()):
            leaf = var.name.split("/")[-1].split(":")[0]
            if value.ndim == 4:
                value = value.transpose(3, 2, 0, 1)
            elif value.ndim == 2:
                if cname == "fc1":  # Flatten of a 2x2x8 map: rows HWC -> CHW
                    value = value.reshape(2, 2, 8, -1).transpose(2, 0, 1, 3).reshape(32, -1)
                value = value.T
            np.save(os.path.join(folder, f"{cname}.{suffix[leaf]}.npy"), np.ascontiguousarray(value))
    x = rng.normal(0, 1, (2, 15, 15, 3)).astype("float32")
    np.save(os.path.join(GOLDEN, "generic_input_nhwc.npy"), x)
    np.save(os.path.join(GOLDEN, "generic_keras_output.npy"), model.predict(x, verbose=0))


def write_unsupported(tf_keras):
    """A real tf-keras model with a layer vggconv refuses (AveragePooling2D), for the error tests."""
    layers = tf_keras.layers
    model = tf_keras.Sequential([
        layers.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same", name="block1_conv1"),
        layers.AveragePooling2D(2, name="block1_avgpool"), layers.Flatten(name="flatten"),
        layers.Dense(2, name="predictions")], name="unsupported")
    model.save(os.path.join(HERE, "unsupported_avgpool_tfkeras_model.h5"))


def write_bn_variants(tf_keras):
    """BatchNormalization without gamma (scale=False, epsilon 1e-5) after a Conv2D and without beta
    (center=False) after a Dense, as a tf-keras full model and weights-only file. The expected
    canonical tensors are Keras's own arrays in canonical layout (no PyTorch layer drops gamma/beta)."""
    layers = tf_keras.layers
    rng = np.random.default_rng(5)
    model = tf_keras.Sequential([
        layers.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same", name="block1_conv1"),
        layers.BatchNormalization(scale=False, epsilon=1e-5, name="block1_conv1_bn"), layers.ReLU(name="re_lu"),
        layers.MaxPooling2D(2, name="block1_pool"), layers.Flatten(name="flatten"),
        layers.Dense(6, name="fc1"), layers.BatchNormalization(center=False, name="fc1_bn"),
        layers.Dense(2, activation="softmax", name="predictions")], name="bn_variants")
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") if w.ndim > 1 else
                       rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])
    model.save(os.path.join(HERE, "bn_variants_tfkeras_model.h5"))
    model.save_weights(os.path.join(HERE, "bn_variants_tfkeras_weights.h5"))
    folder = os.path.join(EXPECTED, "bn_variants")
    os.makedirs(folder)
    names = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
             "moving_mean": "running_mean", "moving_variance": "running_var"}
    for layer in model.layers:
        for var, value in zip(layer.weights, layer.get_weights()):
            leaf = var.name.split("/")[-1].split(":")[0]
            if value.ndim == 4:
                value = value.transpose(3, 2, 0, 1)
            elif value.ndim == 2:
                if layer.name == "fc1":  # Flatten of a 4x4x4 map: rows HWC -> CHW
                    value = value.reshape(4, 4, 4, -1).transpose(2, 0, 1, 3).reshape(64, -1)
                value = value.T
            np.save(os.path.join(folder, f"{layer.name}.{names[leaf]}.npy"), np.ascontiguousarray(value))


def tensor_record(value):
    """What torch.load returns for one tensor: dtype (numpy's name), shape and crc32 of its C-order bytes."""
    import zlib
    t = value.detach().contiguous()
    raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
    dtype = "bfloat16" if t.dtype == torch.bfloat16 else str(raw.numpy().dtype)
    return dict(dtype=dtype, shape=list(t.shape), crc32="%08x" % zlib.crc32(raw.numpy().tobytes()))


def flatten_tensors(obj, prefix=""):
    """Key paths as vggconv's inspect names them: dict keys and list indices joined by '.'."""
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = tensor_record(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten_tensors(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten_tensors(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


class ForgedTensor:
    """Pickles as torch._utils._rebuild_tensor_v2 over a real storage with a size/stride of our
    choosing, so that real torch.save writes a tensor its storage cannot back."""
    def __init__(self, storage, size, stride):
        self.storage, self.size, self.stride = storage, size, stride

    def __reduce__(self):
        from collections import OrderedDict
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.size, self.stride, False, OrderedDict()))


def rewrite_record(src, dst, name_suffix, edit, compression=None):
    """Copy a torch.save zip, passing each record whose name ends in name_suffix through edit
    (bytes -> bytes). Python's zipfile recomputes the CRCs, so only the edit itself differs."""
    import zipfile
    compression = zipfile.ZIP_STORED if compression is None else compression
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item.filename, edit(data, item.filename) if item.filename.endswith(name_suffix) or
                          (name_suffix == "*" ) else data)


def big_endian_record(data, name):
    """What torch.save writes on a big-endian host: float32 storages in big-endian byte order and a
    'big' byteorder record (derived from a little-endian file by swapping each 4-byte element)."""
    if name.endswith("/byteorder"):
        return b"big"
    if "/data/" in name:
        return np.frombuffer(data, dtype="<f4").astype(">f4").tobytes()
    return data


class Pwned:
    """Pickles as a call to os.system: a .pth that a safe loader must refuse without running it."""
    def __reduce__(self):
        return (os.system, ("echo vggconv-executed-pickle > /tmp/vggconv-pwned",))


def write_torch_variants(models_state):
    """PyTorch containers and dtypes, all written by real torch.save, with what torch.load returns."""
    folder = os.path.join(HERE, "torch")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    expected = {}

    def save(name, obj, **kwargs):
        path = os.path.join(folder, name)
        torch.save(obj, path, **kwargs)
        # torch's weights_only unpickler rejects protocol 4 (FRAME, "Unsupported operand 149"); the
        # file is our own, so the full loader is safe for reading it back.
        loaded = torch.load(path, weights_only="pickle_protocol" not in kwargs)
        expected[name] = flatten_tensors(loaded)

    sd = models_state["vgg_small"]
    save("vgg_small_legacy.pth", sd, _use_new_zipfile_serialization=False)
    save("vgg_small_checkpoint.pth", {"epoch": 12, "best_acc1": 0.75, "arch": "vgg_small",
                                      "state_dict": {"module." + k: v for k, v in sd.items()},
                                      "optimizer": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]}})
    save("vgg_small_fp16.pth", {k: v.half() for k, v in sd.items()})
    save("vgg_small_bf16.pth", {k: v.to(torch.bfloat16) for k, v in sd.items()})
    save("vgg_small_protocol4.pth", sd, pickle_protocol=4)
    save("vgg_bn_legacy.pth", models_state["vgg_bn"], _use_new_zipfile_serialization=False)

    # Not VGG at all: inspect must list exactly what torch.load returns.
    torch.manual_seed(3)
    other = nn.ModuleDict({"conv": nn.Conv1d(3, 4, 5), "norm": nn.LayerNorm(6), "embed": nn.Embedding(7, 3),
                           "bn": nn.BatchNorm1d(4)})
    save("other_modules.pth", other.state_dict())
    every = {
        "f32": torch.randn(2, 3), "f16": torch.randn(4).half(), "bf16": torch.randn(3, 2).to(torch.bfloat16),
        "f64": torch.randn(2, 2, dtype=torch.float64), "i64": torch.arange(5), "i32": torch.arange(4, dtype=torch.int32),
        "i16": torch.arange(-3, 3, dtype=torch.int16), "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4),
    }
    save("every_dtype.pth", every)
    base = torch.arange(24, dtype=torch.float32)
    nested = {"model": {"blocks": [{"w": torch.randn(2, 2)}, {"w": torch.randn(3)}], "head": torch.ones(2)},
              "views": {"slice": base[3:9], "transposed": base.view(4, 6).t(), "strided": base[::5]},
              "step": 7, "name": "nested"}
    save("nested_views.pth", nested)
    save("nested_views_legacy.pth", nested, _use_new_zipfile_serialization=False)

    # A pickle that calls os.system when loaded by an unsafe loader. Writing it runs nothing.
    torch.save({"weight": torch.zeros(2), "payload": Pwned()}, os.path.join(folder, "malicious_os_system.pth"))
    # Damaged files for the error tests (see the docstrings above for how each is made).
    storage = torch.arange(4, dtype=torch.float32).storage()  # a TypedStorage: pickled as torch.FloatStorage
    torch.save({"0.weight": ForgedTensor(storage, (10, 100), (100, 1))}, os.path.join(folder, "damaged_short_storage.pth"))
    torch.save({"0.weight": ForgedTensor(storage, (2 ** 62, 2 ** 62), (1, 1))}, os.path.join(folder, "damaged_shape_overflow.pth"))
    rewrite_record(os.path.join(HERE, "vgg_small.pth"), os.path.join(folder, "damaged_unknown_opcode.pth"), "data.pkl",
                   lambda data, _: data[:2] + bytes([0xFF]) + data[3:])
    # Readers must also accept deflated records and big-endian files (derived from real torch.save output).
    import zipfile
    rewrite_record(os.path.join(HERE, "vgg_dropout.pth"), os.path.join(folder, "vgg_dropout_deflated.pth"), "*",
                   lambda data, _: data, compression=zipfile.ZIP_DEFLATED)
    rewrite_record(os.path.join(HERE, "vgg_dropout.pth"), os.path.join(folder, "vgg_dropout_bigendian.pth"), "*",
                   big_endian_record)
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def main():
    import tf_keras
    import keras

    for directory in (EXPECTED, GOLDEN):
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
    os.makedirs(os.path.join(HERE, "summaries"), exist_ok=True)
    rng = np.random.default_rng(20261123)
    manifest = {}
    states = {}
    for name, spec in MODELS.items():
        tf_keras.utils.set_random_seed(7)
        tfk = build_keras(tf_keras.layers, tf_keras.models, spec, name)
        randomize(tfk, rng)
        k3 = build_keras(keras.layers, keras.models, spec, name)
        k3.set_weights(tfk.get_weights())

        files = {}
        def out(suffix):
            files[suffix] = f"{name}{suffix}"
            return os.path.join(HERE, f"{name}{suffix}")
        tfk.save_weights(out("_tfkeras_weights.h5"))          # Keras 2 legacy weights-only h5
        tfk.save(out("_tfkeras_model.h5"))                    # Keras 2 full model h5 (":0" names)
        k3.save(out("_keras3_model.h5"))                      # Keras 3 legacy full model h5 (no ":0")
        k3.save_weights(out("_keras3.weights.h5"))            # Keras 3 generic layers/<class>_N/vars/i
        k3.save(out("_keras3.keras"))                         # Keras 3 archive
        with open(out("_tfkeras_config.json"), "w") as f:     # Keras 2 to_json() architecture
            f.write(tfk.to_json())
        with open(out("_keras3_config.json"), "w") as f:      # Keras 3 to_json() architecture
            f.write(k3.to_json())
        if not any(p[0] == "bn" for p in spec["plan"]):
            write_keras1_style(tfk, out("_keras1_style.h5"), chunk_layer_names=(name == "vgg_dropout"))
        save_summary(tfk, os.path.join(HERE, "summaries", f"{name}_tfkeras.txt"))
        save_summary(k3, os.path.join(HERE, "summaries", f"{name}_keras3.txt"))

        tmodel, owners = torch_twin(spec)
        copy_keras_to_torch(tfk, tmodel, owners, spec)
        tmodel.eval()
        torch.save(tmodel.state_dict(), out(".pth"))
        states[name] = tmodel.state_dict()

        x = rng.normal(0, 1, (2,) + spec["input"]).astype("float32")
        y_keras = tfk.predict(x, verbose=0)
        y_keras3 = np.asarray(k3.predict(x, verbose=0))
        x_nchw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        with torch.no_grad():
            y_torch_nchw = tmodel(x_nchw).numpy()
            # A state_dict cannot record a final nn.Softmax module: converted files reproduce the logits.
            head = tmodel[:-1] if isinstance(tmodel[-1], nn.Softmax) else tmodel
            y_torch_logits = head(x_nchw).numpy()
        y_torch = y_torch_nchw
        if y_torch.ndim == 4:  # notop: compare feature maps channels-last, as Keras returns them
            y_torch = np.ascontiguousarray(y_torch.transpose(0, 2, 3, 1))
        scale = np.abs(y_keras).max()
        assert np.abs(y_keras - y_torch).max() <= 1e-5 * max(scale, 1), (name, np.abs(y_keras - y_torch).max())
        assert np.abs(y_keras - y_keras3).max() <= 1e-5 * max(scale, 1)
        np.save(os.path.join(GOLDEN, f"{name}_input_nhwc.npy"), x)
        np.save(os.path.join(GOLDEN, f"{name}_input_nchw.npy"), np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        np.save(os.path.join(GOLDEN, f"{name}_keras_output.npy"), y_keras)
        np.save(os.path.join(GOLDEN, f"{name}_torch_output.npy"), y_torch_nchw)
        np.save(os.path.join(GOLDEN, f"{name}_torch_logits.npy"), y_torch_logits)

        os.makedirs(os.path.join(EXPECTED, name))
        state = canonical_state(tmodel, owners)
        for cname, value in state.items():
            np.save(os.path.join(EXPECTED, name, f"{cname}.npy"), value)
        manifest[name] = dict(files=files, input_hwc=list(spec["input"]),
                              tensors=list(state.keys()),
                              layers=canonical_names(spec["plan"]),
                              params_total=int(tfk.count_params()),
                              params_trainable=int(sum(np.prod(w.shape) for w in tfk.trainable_weights)))
    write_unsupported(tf_keras)
    write_generic_pair(tf_keras)
    # Full-size reference without weights: keras.applications' VGG16 architecture and its summary.
    tf_keras.backend.clear_session()
    vgg16 = tf_keras.applications.VGG16(weights=None)
    with open(os.path.join(HERE, "vgg16_tfkeras_config.json"), "w") as f:
        f.write(vgg16.to_json())
    save_summary(vgg16, os.path.join(HERE, "summaries", "vgg16_tfkeras.txt"))
    write_torch_variants(states)
    write_bn_variants(tf_keras)
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(dict(generator="samples/generate.py",
                       versions=dict(tf_keras=tf_keras.__version__, keras=keras.__version__,
                                     torch=torch.__version__.split("+")[0], h5py=h5py.__version__,
                                     numpy=np.__version__),
                       models=manifest), f, indent=1, sort_keys=True)
    print("samples written to", HERE)


if __name__ == "__main__":
    sys.exit(main())
