#!/usr/bin/env python3
"""Writes the HDF5 storage variants of the tf-keras full-model samples: the same file, with the same
groups, attributes and values, re-stored by h5py (the HDF5 library Keras itself writes through) the
way files from other tools and projects arrive: chunked and compressed datasets, and the newest HDF5
file format. Keras never compresses, so no framework writes these; they are not hand-crafted
imitations either: each is a framework-written sample (samples/<model>_tfkeras_model.h5, from
samples/generate.py) with only its storage changed, and the tests require every one to convert to
exactly the tensors of PyTorch's state_dict (samples/expected), as the original does.

- <model>_tfkeras_model_h5py_chunked.h5: file format as h5py writes by default (superblock v0, version-1
  B-tree chunk indexes); the datasets cycle through gzip + shuffle, gzip level 9 in one-row chunks,
  uncompressed chunks with Fletcher-32 checksums, and gzip + shuffle + Fletcher-32 in chunks that do
  not divide the shape (partial edge chunks). String attributes are fixed-length byte strings, as
  Keras 2.0-2.3 wrote them through h5py 2 (`model_config`, `layer_names`, `weight_names`).
- <model>_tfkeras_model_h5py_latest.h5: `libver="latest"` with creation-order tracking (superblock v3,
  version-2 object headers, link and attribute messages, creation-order indexes); every other dataset
  chunked with gzip (single-chunk, fixed-array and extensible-array chunk indexes), the rest contiguous
  or, when under 64 KB, compact (stored inside the object header, with no file offset of its own);
  every dataset big-endian float32 (the same values, so the same tensors after conversion).

Needs only numpy and h5py. Run: python3 samples/generate_h5_variants.py
"""
import itertools
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"]


def edge_chunks(shape):
    """A chunk shape that leaves partial chunks at the end of every axis longer than 2."""
    return tuple(max(1, (side * 2) // 3) for side in shape)


CHUNKED_STORAGE = [
    lambda shape: dict(compression="gzip", shuffle=True, chunks=True),
    lambda shape: dict(compression="gzip", compression_opts=9, chunks=(1,) + tuple(shape[1:])),
    lambda shape: dict(fletcher32=True, chunks=True),
    lambda shape: dict(compression="gzip", shuffle=True, fletcher32=True, chunks=edge_chunks(shape)),
]
LATEST_STORAGE = [
    lambda shape: dict(compression="gzip", chunks=True),
    lambda shape: dict(compact=True),
    lambda shape: dict(compression="gzip", shuffle=True, chunks=edge_chunks(shape), maxshape=(None,) + tuple(shape[1:])),
    lambda shape: {},
]
COMPACT_LIMIT = 60_000  # an object header holds at most 64 KB


def create_compact(group, name, data, dtype):
    """A compact dataset (h5py's high-level API writes only contiguous and chunked ones)."""
    properties = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    properties.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple(data.shape)
    identifier = h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(dtype), space, dcpl=properties)
    identifier.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data, dtype=dtype))
    return group[name]


def fixed_length(value):
    """A variable-length string attribute as h5py 2 stored Python bytes: fixed-length `S` strings."""
    encode = lambda text: text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if isinstance(value, np.ndarray):
        items = [encode(item) for item in value.tolist()]
        return np.array(items, dtype="S%d" % max([1] + [len(item) for item in items]))
    return np.bytes_(encode(value))


def copy_attributes(source, target, fixed_strings):
    """Every attribute with its stored type, or variable-length strings made fixed-length."""
    for name in source.attrs:
        value, dtype = source.attrs[name], source.attrs.get_id(name).dtype
        if fixed_strings and h5py.check_string_dtype(dtype) is not None:
            target.attrs.create(name, fixed_length(value))
        else:
            target.attrs.create(name, value, dtype=dtype)


def copy_tree(source, target, storage, variant):
    copy_attributes(source, target, variant.get("fixed_strings", False))
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            copy_tree(item, target.create_group(name, track_order=variant.get("track_order", False)), storage, variant)
            continue
        data = item[()]
        options = next(storage)(data.shape) if data.ndim > 0 else {}
        dtype = item.dtype.newbyteorder(">") if variant.get("big_endian") else item.dtype
        if options.pop("compact", False) and data.nbytes < COMPACT_LIMIT:
            dataset = create_compact(target, name, data, dtype)
        else:
            dataset = target.create_dataset(name, data=data, dtype=dtype, **options)
        copy_attributes(item, dataset, variant.get("fixed_strings", False))


def rewrite(source_path, target_path, storage, variant, **file_options):
    temporary = target_path + ".partial"
    with h5py.File(source_path, "r") as source, h5py.File(temporary, "w", **file_options) as target:
        copy_tree(source, target, itertools.cycle(storage), variant)
    os.replace(temporary, target_path)


def main():
    for model in MODELS:
        source = os.path.join(HERE, f"{model}_tfkeras_model.h5")
        rewrite(source, os.path.join(HERE, f"{model}_tfkeras_model_h5py_chunked.h5"), CHUNKED_STORAGE,
                {"fixed_strings": True})
        rewrite(source, os.path.join(HERE, f"{model}_tfkeras_model_h5py_latest.h5"), LATEST_STORAGE,
                {"track_order": True, "big_endian": True}, libver="latest", track_order=True)
    print("HDF5 storage variants written to", HERE)


if __name__ == "__main__":
    main()
