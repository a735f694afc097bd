#!/usr/bin/env python3
"""Writes ONNX samples with the real exporters (run through `make samples`, after generate.py and
generate_transfer.py, whose models it exports).

- torch.onnx.export (the TorchScript exporter, the one that writes opsets below 18) of the PyTorch twins
  at opsets 7, 11, 13 and 17: nn.Flatten + Gemm; `x.view(x.size(0), -1)` with a dynamic batch (the
  Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain); BatchNormalization nodes kept
  (training=PRESERVE, do_constant_folding=False) and folded into the convolutions (the default);
- the same model saved with external data (onnx.save_model(save_as_external_data=True));
- tf2onnx from the tf-keras models (NHWC input, Transposes, MatMul + Add, Dropout removed) and from a
  Keras VGG base with a global-average-pooling head.

Beside each file, onnxruntime's own outputs on the generator's inputs (<file>.ort_output.npy): what
`vggconv verify` must reproduce. samples/onnx/manifest.json lists the files, inputs and layouts.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import torch
import torch.nn as nn
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "onnx")
GOLDEN = os.path.join(HERE, "golden")
sys.path.insert(0, HERE)
from generate import MODELS, torch_twin  # noqa: E402


class ViewNet(nn.Module):
    """features + classifier with `x.view(x.size(0), -1)` between them, as torchvision-era code wrote it."""

    def __init__(self, sequential):
        super().__init__()
        modules = list(sequential)
        cut = next(i for i, m in enumerate(modules) if isinstance(m, nn.Flatten))
        self.features = nn.Sequential(*modules[:cut])
        self.classifier = nn.Sequential(*modules[cut + 1:])

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


def twin(name):
    model, _ = torch_twin(MODELS[name])
    model.load_state_dict(torch.load(os.path.join(HERE, f"{name}.pth"), weights_only=True))
    return model.eval()


def ort_outputs(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {}

    def record(file, model, input_file, layout, reference=None):
        path = os.path.join(OUT, file)
        x = np.load(os.path.join(GOLDEN, input_file))
        y = ort_outputs(path, x)
        if reference is not None:  # the exporter kept the framework's computation
            scale = max(float(np.abs(reference).max()), 1.0)
            assert np.abs(y - reference).max() <= 1e-4 * scale, (file, float(np.abs(y - reference).max()))
        np.save(path + ".ort_output.npy", y)
        graph = onnx.load(path, load_external_data=False)
        manifest[file] = dict(model=model, input=f"golden/{input_file}", layout=layout,
                              opset=max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")),
                              producer=f"{graph.producer_name} {graph.producer_version}",
                              ops=sorted({n.op_type for n in graph.graph.node}))

    def export(module, x, file, opset, **kwargs):
        torch.onnx.export(module, (torch.from_numpy(x),), os.path.join(OUT, file), opset_version=opset, dynamo=False,
                          input_names=["input"], output_names=["output"], **kwargs)

    for name in ("vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"):
        model = twin(name)
        x = np.load(os.path.join(GOLDEN, f"{name}_input_nchw.npy"))
        with torch.no_grad():
            reference = model(torch.from_numpy(x)).numpy()
        opsets = (7, 11, 13, 17) if name in ("vgg_small", "vgg_bn") else (13,)
        for opset in opsets:
            file = f"{name}_torch_opset{opset}.onnx"
            export(model, x, file, opset)
            record(file, name, f"{name}_input_nchw.npy", "nchw", reference)
        if name == "vgg_bn":
            for opset in (7, 13):  # BatchNormalization nodes as the module has them, not folded
                file = f"{name}_torch_opset{opset}_bn_nodes.onnx"
                export(model, x, file, opset, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
                record(file, name, f"{name}_input_nchw.npy", "nchw", reference)
        if name != "vgg_notop":
            for opset in (11, 17):  # x.view(x.size(0), -1) with a dynamic batch: the Shape/Gather/Concat chain
                file = f"{name}_torch_view_opset{opset}.onnx"
                export(ViewNet(model), x, file, opset, dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                       do_constant_folding=False)
                record(file, name, f"{name}_input_nchw.npy", "nchw", reference)
    # Equal initializers shared: torch.onnx stores one and names each other use through an Identity node
    # (torchvision initialises every bias to zero, so full-size exports are full of these).
    model = twin("vgg_small")
    with torch.no_grad():
        for module in model:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.bias.zero_()
    x = np.load(os.path.join(GOLDEN, "vgg_small_input_nchw.npy"))
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    export(model, x, "vgg_small_torch_shared_biases_opset13.onnx", 13)
    record("vgg_small_torch_shared_biases_opset13.onnx", "vgg_small", "vgg_small_input_nchw.npy", "nchw", reference)
    # External data: the weights in a file beside the graph.
    graph = onnx.load(os.path.join(OUT, "vgg_small_torch_opset13.onnx"))
    onnx.save_model(graph, os.path.join(OUT, "vgg_small_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="vgg_small_external.onnx.data", size_threshold=0)
    record("vgg_small_external.onnx", "vgg_small", "vgg_small_input_nchw.npy", "nchw")

    write_tf2onnx(record)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(dict(generator="samples/generate_onnx.py",
                       versions=dict(torch=torch.__version__.split("+")[0], onnx=onnx.__version__,
                                     onnxruntime=ort.__version__, tf2onnx=tf2onnx_version()),
                       files=manifest), f, indent=1, sort_keys=True)
    print("ONNX samples written to", OUT)


def tf2onnx_version():
    import tf2onnx
    return tf2onnx.__version__


def write_tf2onnx(record):
    import tensorflow as tf
    import tf_keras
    import tf2onnx

    sources = [(f"{name}_tfkeras_model.h5", name, f"{name}_input_nhwc.npy", f"{name}_keras_output.npy")
               for name in ("vgg_small", "vgg_bn", "vgg_dropout")]
    sources.append(("transfer/tl_features_tfkeras_model.h5", "tl_features", "../transfer/keras_input_nhwc.npy",
                    "../transfer/tl_features_keras_output.npy"))
    # BatchNormalization after a Dense layer: tf2onnx writes it as a per-channel Mul + Add.
    rng = np.random.default_rng(11)
    np.save(os.path.join(OUT, "bn_variants_input_nhwc.npy"), rng.normal(0, 1, (2, 8, 8, 3)).astype("float32"))
    sources.append(("bn_variants_tfkeras_model.h5", "bn_variants", "../onnx/bn_variants_input_nhwc.npy", None))
    for source, name, input_file, output_file in sources:
        model = tf_keras.models.load_model(os.path.join(HERE, source), compile=False)
        x = np.load(os.path.join(GOLDEN, input_file))
        spec = (tf.TensorSpec((None,) + tuple(x.shape[1:]), tf.float32, name="input"),)
        file = f"{name}_tf2onnx_opset13.onnx"
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=os.path.join(OUT, file))
        reference = np.load(os.path.join(GOLDEN, output_file)) if output_file else model.predict(x, verbose=0)
        record(file, name, input_file, "nhwc", reference)


if __name__ == "__main__":
    sys.exit(main())
