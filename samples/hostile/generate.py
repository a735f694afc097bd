#!/usr/bin/env python3
"""Writes samples/hostile/: files built the way an attacker builds them, one per class of attack that
an adversarial review of vggconv found (issue 13), and manifest.json saying which vggconv commands
each must be refused by and with what message. The tests (Tests/CLITests/HostileFileTests.swift) run
every command on every file and require exit status 2, one line on stderr, no output file, and a
bounded time and address space.

HDF5 files start from a sample written by tf-keras (samples/vgg_small_tfkeras_model.h5) and are
edited with h5py exactly as the attack describes (external storage, links, virtual datasets, filters,
unwritten chunks). PyTorch files are written byte by byte: pickle opcodes (CPython's
Lib/pickletools.py) in the zip layout torch.save uses (archive/data.pkl, archive/data/<key>,
archive/byteorder, archive/version) or the legacy stream. Images (issue 30) start from files Pillow
writes and are edited at the marker or chunk level. Nothing here needs torch or Keras: only numpy, h5py
and Pillow (`pip install numpy h5py pillow`).

Run: python3 samples/hostile/generate.py [--out DIR]
"""
import argparse
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import zlib

import h5py
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.dirname(HERE)
KERAS_MODEL = os.path.join(SAMPLES, "vgg_small_tfkeras_model.h5")
BIAS = "model_weights/block1_conv1/block1_conv1/bias:0"

CASES = []


def case(name, commands, message):
    """Registers a generator for `name`; `commands` are vggconv argument lists ({file}, {out}).
    `message` is what stderr must contain: one text, or a dict from subcommand to text."""
    def register(function):
        CASES.append((name, commands, message, function))
        return function
    return register


KERAS_COMMANDS = [["keras2native", "{file}", "-o", "{out}"], ["summary", "{file}"], ["inspect", "{file}"]]
TORCH_COMMANDS = [["torch2native", "{file}", "-o", "{out}"], ["inspect", "{file}"]]
TORCH_ALL = TORCH_COMMANDS + [["summary", "{file}"]]
# Files `inspect` may list (their tensors are sound) but no command may build a model from.
TORCH_ARCHITECTURE = [TORCH_COMMANDS[0], ["summary", "{file}"]]


def keras_copy(path):
    shutil.copyfile(KERAS_MODEL, path)
    return h5py.File(path, "r+")


# ---- 1. other files' bytes ----------------------------------------------------------------------

@case("external_storage.h5", KERAS_COMMANDS, "stores its data in an external file")
def external_storage(path):
    with keras_copy(path) as f:
        del f[BIAS]
        f.create_dataset(BIAS, shape=(8,), dtype="<f4", external=[("/etc/passwd", 0, 32)])


@case("external_link.h5", KERAS_COMMANDS, "is an external link")
def external_link(path):
    other = os.path.join(os.path.dirname(path), "external_link_target.h5")
    with h5py.File(other, "w") as g:
        g["bias"] = np.arange(8, dtype="<f4")
    with keras_copy(path) as f:
        del f[BIAS]
        f[BIAS] = h5py.ExternalLink("external_link_target.h5", "/bias")


@case("soft_link.h5", KERAS_COMMANDS, "is a soft link")
def soft_link(path):
    with keras_copy(path) as f:
        del f[BIAS]
        f[BIAS] = h5py.SoftLink("/model_weights/block1_conv2/block1_conv2/bias:0")


@case("virtual_dataset.h5", KERAS_COMMANDS, "is a virtual dataset")
def virtual_dataset(path):
    other = os.path.join(os.path.dirname(path), "virtual_source.h5")
    with h5py.File(other, "w") as g:
        g["bias"] = np.arange(8, dtype="<f4")
    layout = h5py.VirtualLayout(shape=(8,), dtype="<f4")
    layout[:] = h5py.VirtualSource("virtual_source.h5", "bias", shape=(8,))
    with keras_copy(path) as f:
        del f[BIAS]
        f.create_virtual_dataset(BIAS, layout)


# ---- 6. memory far beyond the file ---------------------------------------------------------------

@case("unwritten_chunks.h5", KERAS_COMMANDS, "chunks written")
def unwritten_chunks(path):
    # 8 GiB declared, not one chunk written: a few KB of file.
    with keras_copy(path) as f:
        f.create_dataset("model_weights/block1_conv1/block1_conv1/huge:0", shape=(1 << 15, 1 << 16), dtype="<f4",
                         chunks=(1024, 1024))


@case("shape_bomb.h5", KERAS_COMMANDS, "budget")
def shape_bomb(path):
    # A contiguous dataset declaring 8 GiB that was never written (HDF5 allocates its storage late):
    # libhdf5 would hand back 8 GiB of fill values for a file of a few hundred KB.
    with keras_copy(path) as f:
        del f[BIAS]
        f.create_dataset(BIAS, shape=(1 << 31,), dtype="<f4")


@case("lzf_filter.h5", KERAS_COMMANDS, "HDF5 filter 32000")
def lzf_filter(path):
    with keras_copy(path) as f:
        data = f[BIAS][()]
        del f[BIAS]
        f.create_dataset(BIAS, data=data, compression="lzf")


@case("fletcher32_mismatch.h5", KERAS_COMMANDS, "cannot read data")
def fletcher32_mismatch(path):
    # Fletcher-32 is an allowed filter (a checksum libhdf5 verifies as it reads the chunk): one flipped
    # byte in the chunk must fail the read, not reach the output.
    with keras_copy(path) as f:
        data = f[BIAS][()]
        del f[BIAS]
        f.create_dataset(BIAS, data=data, chunks=data.shape, fletcher32=True)
        offset = f[BIAS].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset)
        first = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([first ^ 0x01]))


@case("string_dataset.h5", KERAS_COMMANDS, "Keras weights are numbers")
def string_dataset(path):
    with keras_copy(path) as f:
        del f[BIAS]
        f.create_dataset(BIAS, data=np.array([b"x" * 16] * 8))


@case("layer_names_not_strings.h5", KERAS_COMMANDS[:2], "is not a string")
def layer_names_not_strings(path):
    with keras_copy(path) as f:
        f["model_weights"].attrs["layer_names"] = np.arange(5, dtype="<i8")


@case("corrupt_vlen_attribute.h5", KERAS_COMMANDS[:2], "in an isolated process")
def corrupt_vlen_attribute(path):
    # A byte-flipped tf-keras file: the first object of its global heap collection ("GCOL" at byte 2048;
    # object header at 2064, its size at 2072) is the variable-length string of the root's
    # `keras_version` attribute, "2.21.0", 6 bytes. Byte 2073 set to 0x7f makes it claim 32,518 bytes, and
    # libhdf5 1.10.8 (Debian bookworm's) segfaults reading the attribute. vggconv must report it, not die.
    data = bytearray(open(os.path.join(SAMPLES, "vgg_bn_tfkeras_model.h5"), "rb").read())
    assert data[2048:2052] == b"GCOL"
    data[2073] = 0x7F
    with open(path, "wb") as f:
        f.write(data)


# ---- PyTorch: pickles written opcode by opcode ----------------------------------------------------

def torch_zip(path, pickle_bytes, records=(), compress=False):
    """The zip layout of torch.save: archive/data.pkl, archive/data/<key>, byteorder, version."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, data in records:
            z.writestr(zipfile.ZipInfo(f"archive/data/{key}"), data, compress_type=method)
        z.writestr("archive/version", "3\n")


def op_unicode(text):
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def op_int(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if -(1 << 31) <= value < (1 << 31):
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tensor_ops(key, numel, offset, size, stride, storage="FloatStorage", view=b""):
    """torch._utils._rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())."""
    pid = (b"(" + op_unicode("storage") + op_global("torch", storage) + op_unicode(key) + op_unicode("cpu") + op_int(numel)
           + view + b"tQ")
    size_t = b"(" + b"".join(op_int(v) for v in size) + b"t"
    stride_t = b"(" + b"".join(op_int(v) for v in stride) + b"t"
    return (op_global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + op_int(offset) + size_t + stride_t
            + b"\x89" + op_global("collections", "OrderedDict") + b")R" + b"tR")


def state_dict(entries):
    """A protocol-2 pickle of a dict {key: tensor ops}."""
    body = b"".join(op_unicode(k) + v for k, v in entries)
    return b"\x80\x02}(" + body + b"u."


@case("deep_list_chain.pth", TORCH_ALL, {"inspect": "nest deeper than", "torch2native": "no state_dict found",
                                         "summary": "no state_dict found"})
def deep_list_chain(path):
    # 40,000 lists built separately through the memo, then each appended into the previous one.
    n = 40_000
    ops = [b"\x80\x02}" + op_unicode("chain")]
    for i in range(n):
        ops.append(b"]r" + struct.pack("<I", i + 1) + b"0")
    for i in range(n - 1):
        ops.append(b"j" + struct.pack("<I", i + 1) + b"j" + struct.pack("<I", i + 2) + b"a0")
    ops.append(b"j" + struct.pack("<I", 1) + b"s.")
    torch_zip(path, b"".join(ops))


@case("shared_tuple_dag.pth", [["inspect", "{file}"]], "refusing to unfold it")
def shared_tuple_dag(path):
    # (t, t) of (t, t) of ... 60 levels: 2**60 leaves when unfolded, 130 bytes of pickle.
    dag = b")" + b"2\x86" * 60
    torch_zip(path, b"\x80\x02}" + op_unicode("dag") + dag + b"s.")


@case("storage_offset_max.pth", TORCH_COMMANDS, "overflows")
def storage_offset_max(path):
    # A well-formed 3x3 convolution (so every command gets as far as its bytes) at offset 2**63 - 1.
    torch_zip(path, state_dict([("0.weight", tensor_ops("0", 27, (1 << 63) - 1, [1, 3, 3, 3], [27, 9, 3, 1]))]),
              [("0", b"\0" * 108)])


@case("stride_max.pth", TORCH_COMMANDS, "overflows")
def stride_max(path):
    torch_zip(path, state_dict([("0.weight", tensor_ops("0", 27, 0, [2, 3, 3, 3], [(1 << 63) - 1, 9, 3, 1]))]),
              [("0", b"\0" * 108)])


@case("module_index_extremes.pth", TORCH_ARCHITECTURE, "has a module index out of range")
def module_index_extremes(path):
    entries = [(f"features.{-(1 << 63)}.weight", tensor_ops("0", 4, 0, [1, 1, 1, 1], [1, 1, 1, 1])),
               (f"features.{(1 << 63) - 1}.weight", tensor_ops("0", 4, 0, [1, 1, 1, 1], [1, 1, 1, 1]))]
    torch_zip(path, state_dict(entries), [("0", b"\0" * 16)])


@case("module_index_gap.pth", TORCH_ARCHITECTURE, "modules without weights between")
def module_index_gap(path):
    # A conv at index 0 and a linear at 10**9: a billion Dropout layers if taken at its word.
    entries = [("0.weight", tensor_ops("0", 27, 0, [1, 3, 3, 3], [27, 9, 3, 1])),
               ("1000000000.weight", tensor_ops("1", 2, 0, [2, 1], [1, 1]))]
    torch_zip(path, state_dict(entries), [("0", b"\0" * 108), ("1", b"\0" * 8)])


def conv_stack(big, stride_zero):
    """features.0 (3 -> C) then features.2, .4, .6 (C -> C), all 3x3: a valid VGG-style stack whose
    three C x C kernels are the oversized tensors."""
    c = big
    first = ("features.0.weight", tensor_ops("first", 1 if stride_zero else c * 27, 0, [c, 3, 3, 3],
                                             [0, 0, 0, 0] if stride_zero else [27, 9, 3, 1]))
    shape = [c, c, 3, 3]
    stride = [0, 0, 0, 0] if stride_zero else [c * 9, 9, 3, 1]
    numel = 1 if stride_zero else c * c * 9
    rest = [(f"features.{i}.weight", tensor_ops(f"k{i}", numel, 0, shape, stride)) for i in (2, 4, 6)]
    return [first] + rest


@case("stride_zero_views.pth", TORCH_COMMANDS, "budget")
def stride_zero_views(path):
    # Three 2.4 GB kernels that are stride-0 views of one 4-byte storage each: 7 GB from ~1.5 KB.
    records = [("first", b"\0" * 4)] + [(f"k{i}", b"\0" * 4) for i in (2, 4, 6)]
    torch_zip(path, state_dict(conv_stack(8192, stride_zero=True)), records)


@case("deflate_bomb.pth", TORCH_COMMANDS, "budget")
def deflate_bomb(path):
    # Three 36 MiB kernels of zeros, deflated to ~36 KB each: 108 MiB from a ~150 KB file.
    c = 1024
    records = [("first", b"\0" * (c * 27 * 4))] + [(f"k{i}", b"\0" * (c * c * 36)) for i in (2, 4, 6)]
    torch_zip(path, state_dict(conv_stack(c, stride_zero=False)), records, compress=True)


@case("legacy_view_offset.pth", TORCH_COMMANDS, "overflows")
def legacy_view_offset(path):
    # The pre-1.6 stream: magic, protocol 1001, sys_info, the state_dict whose storage id carries a
    # view (root key, offset, size) with an offset at the top of int64, the storage keys, the storages.
    out = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                  "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        pickle.dump(obj, out, protocol=2)
    view = b"(" + op_unicode("0") + op_int((1 << 63) - 1) + op_int(4) + b"t"
    out.write(b"\x80\x02}" + op_unicode("0.weight") + tensor_ops("0", 27, 0, [1, 3, 3, 3], [27, 9, 3, 1], view=view) + b"s.")
    pickle.dump(["0"], out, protocol=2)
    out.write(struct.pack("<q", 27) + b"\0" * 108)
    with open(path, "wb") as f:
        f.write(out.getvalue())


# ---- 8. errors echo raw file bytes --------------------------------------------------------------

@case("ansi_global.pth", TORCH_COMMANDS, "refusing to load global")
def ansi_global(path):
    fake = "\x1b[2K\x1b[1Gwrote model.vggw: 19 layers, all checks passed\n\x1b[8m"
    torch_zip(path, b"\x80\x02" + op_global("posix", "system" + fake.replace("\n", "\r")) + b")R.")


@case("long_global.pth", TORCH_COMMANDS, "refusing to load global")
def long_global(path):
    torch_zip(path, b"\x80\x02" + op_global("posix", "A" * (1 << 20)) + b")R.")


# ---- other refusals the review asked to be tested -------------------------------------------------

@case("torchscript.pt", TORCH_COMMANDS, "TorchScript archive")
def torchscript(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model/data.pkl", b"\x80\x02}.")
        z.writestr("model/constants.pkl", b"\x80\x02).")
        z.writestr("model/code/__torch__.py", "def forward(self): pass\n")
        z.writestr("model/version", "3\n")


@case("legacy_tar.pth", [["torch2native", "{file}", "-o", "{out}"]], "tar-based PyTorch format")
def legacy_tar(path):
    import tarfile
    with tarfile.open(path, "w") as t:
        for name, data in (("sys_info", b"\x80\x02}."), ("pickle", b"\x80\x02}."), ("storages", b"\x80\x02K\x00.")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


@case("compressed_inner_h5.keras", KERAS_COMMANDS, "model.weights.h5")
def compressed_inner_h5(path):
    source = os.path.join(SAMPLES, "vgg_small_keras3.keras")
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as z:
        for item in src.infolist():
            z.writestr(item.filename, src.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)


# Commands that decode an image ({model} is a small sample model; {npy} and {png} are scratch outputs).
IMAGE_COMMANDS = [["predict", "{model}", "{file}"], ["features", "{model}", "{file}", "-o", "{npy}"],
                  ["gradcam", "{model}", "{file}", "--png", "{png}"]]


def jpeg_segments(data):
    """(marker, start, end) of every segment after SOI; an SOS segment runs to the next marker that is
    not a stuffed 0xFF00 or a restart marker."""
    segments, position = [], 2
    while position < len(data):
        assert data[position] == 0xFF
        marker = data[position + 1]
        if marker == 0xD9:
            segments.append((marker, position, position + 2))
            break
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        end = position + 2 + length
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0x00,) and not 0xD0 <= data[end + 1] <= 0xD7):
                end += 1
        segments.append((marker, position, end))
        position = end
    return segments


def noise_image(size, seed):
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    pixels = ramp[None, :, None] * 0.5 + ramp[:, None, None] * 0.3 + rng.integers(0, 50, (size, size, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


@case("jpeg_repeated_scans.jpg", IMAGE_COMMANDS, "more than 100 scans")
def jpeg_repeated_scans(path):
    """A progressive JPEG whose smallest scan is repeated 2,000 times: each one is another pass over the
    whole image (at 4096x4096, 3,000 scans took 75 s in vggconv and in Pillow)."""
    buffer = io.BytesIO()
    noise_image(256, 30).save(buffer, "JPEG", quality=80, progressive=True)
    data = buffer.getvalue()
    segments = jpeg_segments(data)
    start, end = min(((start, end) for marker, start, end in segments if marker == 0xDA), key=lambda span: span[1] - span[0])
    eoi = segments[-1][1]
    with open(path, "wb") as f:
        f.write(data[:eoi] + data[start:end] * 2000 + data[eoi:])


def patched_jpeg_dimensions(width, height, progressive):
    """A 16x16 Pillow JPEG whose frame header claims width x height: a few hundred bytes that would make
    a decoder allocate the whole image before finding the data missing."""
    buffer = io.BytesIO()
    noise_image(16, 31).save(buffer, "JPEG", quality=80, progressive=progressive)
    data = bytearray(buffer.getvalue())
    for marker, start, _ in jpeg_segments(bytes(data)):
        if marker in (0xC0, 0xC2):
            data[start + 5:start + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@case("jpeg_dimension_bomb.jpg", IMAGE_COMMANDS, "bytes of memory")
def jpeg_dimension_bomb(path):
    with open(path, "wb") as f:
        f.write(patched_jpeg_dimensions(13000, 13000, progressive=True))


@case("png_dimension_bomb.png", IMAGE_COMMANDS, "bytes of memory")
def png_dimension_bomb(path):
    """A 16x16 PNG whose IHDR (CRC recomputed) claims 12000x12000 pixels."""
    buffer = io.BytesIO()
    noise_image(16, 32).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", 12000, 12000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(bytes(data))


# ONNX (issue 32): protobuf written field by field (developers.google.com/protocol-buffers/docs/encoding),
# around a one-convolution graph built here with the field numbers of onnx/onnx.proto3.
ONNX_COMMANDS = [["summary", "{file}"], ["convert", "{file}", "-o", "{out}"], ["inspect", "{file}"]]
ONNX_GRAPH_COMMANDS = ONNX_COMMANDS[:2]  # inspect lists the tensors of any well-formed file


def pb_varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def pb(field, payload):
    """A length-delimited field (bytes, string or message); ints go through pb_int."""
    payload = payload.encode() if isinstance(payload, str) else payload
    return pb_varint(field << 3 | 2) + pb_varint(len(payload)) + payload


def pb_int(field, value):
    return pb_varint(field << 3) + pb_varint(value & 0xFFFFFFFFFFFFFFFF)


def onnx_tensor(name, dims, raw=None, external=None):
    fields = b"".join(pb_int(1, d) for d in dims) + pb_int(2, 1) + pb(8, name)
    if raw is not None:
        fields += pb(9, raw)
    for key, value in (external or {}).items():
        fields += pb(13, pb(1, key) + pb(2, value))
    if external:
        fields += pb_int(14, 1)
    return fields


def onnx_value_info(name, dims):
    shape = b"".join(pb(1, pb_int(1, d)) for d in dims)
    return pb(1, name) + pb(2, pb(1, pb_int(1, 1) + pb(2, shape)))


def onnx_node(op, inputs, outputs, name, attributes=b""):
    return b"".join(pb(1, i) for i in inputs) + b"".join(pb(2, o) for o in outputs) + pb(3, name) + pb(4, op) + attributes


def onnx_model(graph):
    return pb_int(1, 8) + pb(2, "hostile") + pb(7, graph) + pb(8, pb_int(2, 17))


def conv_graph(weight, nodes=None):
    """x (1,3,8,8) -> Conv(w: 4x3x3x3) -> y, with `weight` the initializer's TensorProto fields."""
    nodes = nodes if nodes is not None else pb(1, onnx_node("Conv", ["x", "w"], ["y"], "conv"))
    return nodes + pb(2, "g") + pb(5, weight) + pb(11, onnx_value_info("x", [1, 3, 8, 8])) + pb(12, onnx_value_info("y", [1, 4, 8, 8]))


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


@case("onnx_truncated.onnx", ONNX_COMMANDS, "malformed ONNX protobuf")
def onnx_truncated(path):
    """A torch.onnx export cut in the middle of its weights: a length that runs past the end."""
    with open(os.path.join(SAMPLES, "onnx", "vgg_small_torch_opset13.onnx"), "rb") as f:
        data = f.read()
    write(path, data[:len(data) // 2])


@case("onnx_huge_length.onnx", ONNX_COMMANDS, "malformed ONNX protobuf")
def onnx_huge_length(path):
    """A graph field declaring 2^63 - 1 bytes."""
    write(path, pb_int(1, 8) + pb(2, "hostile") + pb_varint(7 << 3 | 2) + pb_varint(2**63 - 1) + b"\0" * 16)


@case("onnx_dims_bomb.onnx", ONNX_COMMANDS, "are not a valid shape")
def onnx_dims_bomb(path):
    """A weight whose dims multiply to 2^124 elements, with 4 bytes of data."""
    write(path, onnx_model(conv_graph(onnx_tensor("w", [2**62, 2**62, 1, 1], raw=b"\0" * 4))))


@case("onnx_short_initializer.onnx", ONNX_COMMANDS, "holds 10 bytes where its dims and type need 432")
def onnx_short_initializer(path):
    write(path, onnx_model(conv_graph(onnx_tensor("w", [4, 3, 3, 3], raw=b"\0" * 10))))


@case("onnx_deep_nesting.onnx", ONNX_GRAPH_COMMANDS, "the graph has no input")
def onnx_deep_nesting(path):
    """A node attribute holding a subgraph nested 100,000 levels deep (and no graph input)."""
    nested = b""
    for _ in range(100_000):
        nested = pb(6, nested)
    attribute = pb(5, pb(1, "body") + nested + pb_int(20, 5))
    write(path, onnx_model(pb(1, onnx_node("Relu", ["x"], ["y"], "deep", attribute)) + pb(12, onnx_value_info("y", [1]))))


@case("onnx_external_absolute.onnx", ONNX_COMMANDS, "must lie in the model's own folder")
def onnx_external_absolute(path):
    write(path, onnx_model(conv_graph(onnx_tensor("w", [4, 3, 3, 3], external={"location": "/etc/passwd", "length": "432"}))))


@case("onnx_external_parent.onnx", ONNX_COMMANDS, "must lie in the model's own folder")
def onnx_external_parent(path):
    write(path, onnx_model(conv_graph(onnx_tensor("w", [4, 3, 3, 3], external={"location": "../onnx/x.bin"}))))


@case("onnx_external_symlink.onnx", ONNX_COMMANDS, "symbolic link out of the model's folder")
def onnx_external_symlink(path):
    """The location is a plain name, but that name is a symbolic link to /etc/passwd."""
    link = os.path.join(os.path.dirname(path), "onnx_external_symlink.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink("/etc/passwd", link)
    write(path, onnx_model(conv_graph(onnx_tensor("w", [4, 3, 3, 3], external={"location": "onnx_external_symlink.bin"}))))


@case("onnx_cycle.onnx", ONNX_GRAPH_COMMANDS, "a cycle")
def onnx_cycle(path):
    """Relu a: x -> y, Relu b: y -> x: the activation comes back to where it started."""
    nodes = pb(1, onnx_node("Relu", ["x"], ["y"], "a")) + pb(1, onnx_node("Relu", ["y"], ["x"], "b"))
    write(path, onnx_model(nodes + pb(11, onnx_value_info("x", [1, 3, 8, 8])) + pb(12, onnx_value_info("z", [1]))))


@case("onnx_branch.onnx", ONNX_GRAPH_COMMANDS, "a branch, not part of a VGG-style network")
def onnx_branch(path):
    """A residual connection: y = Relu(x), z = Add(y, x)."""
    nodes = pb(1, onnx_node("Relu", ["x"], ["y"], "relu")) + pb(1, onnx_node("Add", ["y", "x"], ["z"], "residual"))
    write(path, onnx_model(nodes + pb(11, onnx_value_info("x", [1, 3, 8, 8])) + pb(12, onnx_value_info("z", [1, 3, 8, 8]))))


# Inputs the libFuzzer harnesses found (`make fuzz`), kept as regression files in samples/hostile/found/:
# (file, commands, message, how it was found).
FOUND = [
    ("found/libhdf5_hang.h5", KERAS_COMMANDS[:2], "in an isolated process",
     "hdf5 harness timeout: a mutated Keras sample on which libhdf5 1.10.8 never returns"),
    ("found/libhdf5_memory_bomb.h5", KERAS_COMMANDS[:2], "libhdf5_memory_bomb.h5",
     "hdf5 harness out-of-memory: a 38 KB mutated Keras file whose damaged layer_names makes libhdf5 1.10.8 "
     "allocate over 2 GB; refused because the probe child outgrows the file's memory budget"),
    ("found/libhdf5_metadata_size.h5", KERAS_COMMANDS, "cannot open it",
     "hdf5 harness (ASan allocation-size-too-big in the probe child): a 38 KB mutated Keras file for which "
     "libhdf5 1.10.8's metadata cache (H5C_protect) asks malloc for 2^56 bytes; outside ASan malloc returns "
     "NULL, libhdf5 fails the open and vggconv refuses the file"),
    ("found/libhdf5_vlen_4gib.h5", KERAS_COMMANDS[:2], "cannot read attribute",
     "hdf5 harness (out-of-memory in the probe child): a 28 KB mutated Keras file whose layer_names attribute "
     "makes libhdf5 1.10.8's vlen conversion allocate and fill 4 GiB; the child's data segment is capped at "
     "its size plus the file's budget, so the allocation fails at once (it took 3.3 s and ~4 GB before)"),
    ("found/libhdf5_leak_image_open.h5", KERAS_COMMANDS, "cannot open it",
     "hdf5 harness (LeakSanitizer, early run): a 38 KB mutated Keras file that libhdf5 1.10.8 fails to open as a "
     "file image, leaking its H5LTopen_file_image callback record (libhdf5's, now suppressed in Fuzz/lsan.supp); "
     "vggconv refuses the file and the harness replays it without a report"),
    ("found/libhdf5_child_oom_group.h5", KERAS_COMMANDS, "its group structure cannot be read",
     "hdf5 harness (the sanitizer's own bookkeeping out of memory in the probe child): a 27 KB mutated Keras "
     "file on which libhdf5 1.10.8 runs the child into its data cap; outside ASan libhdf5 fails the group "
     "walk and vggconv refuses the file (342 MB peak, 0.6 s)"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = []
    for name, commands, message, function in CASES:
        path = os.path.join(args.out, name)
        if os.path.exists(path):
            os.remove(path)
        function(path)
        runs = [{"args": c, "message": message if isinstance(message, str) else message[c[0]]} for c in commands]
        manifest.append({"file": name, "runs": runs, "bytes": os.path.getsize(path)})
        print(f"{name}: {os.path.getsize(path):,} bytes")
    for name, commands, message, origin in FOUND:
        runs = [{"args": c, "message": message} for c in commands]
        manifest.append({"file": name, "runs": runs, "bytes": os.path.getsize(os.path.join(HERE, name)), "origin": origin})
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"cases": manifest}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
