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
  not divide the shape (partial edge chunks).
- <model>_tfkeras_model_h5py_latest.h5: `libver="latest"` with creation-order tracking (superblock v3,
  version-2 object headers, link and attribute messages, creation-order indexes); every other dataset
  chunked with gzip (single-chunk, fixed-array and extensible-array chunk indexes), the rest contiguous.

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
    lambda shape: {},
    lambda shape: dict(compression="gzip", shuffle=True, chunks=edge_chunks(shape), maxshape=(None,) + tuple(shape[1:])),
    lambda shape: {},
]


def copy_attributes(source, target):
    """Every attribute with its stored type (fixed-length byte strings stay fixed-length)."""
    for name in source.attrs:
        target.attrs.create(name, source.attrs[name], dtype=source.attrs.get_id(name).dtype)


def copy_tree(source, target, storage, track_order):
    copy_attributes(source, target)
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            copy_tree(item, target.create_group(name, track_order=track_order), storage, track_order)
            continue
        data = item[()]
        options = next(storage)(data.shape) if data.ndim > 0 else {}
        dataset = target.create_dataset(name, data=data, dtype=item.dtype, **options)
        copy_attributes(item, dataset)


def rewrite(source_path, target_path, storage, **file_options):
    track_order = file_options.get("track_order", False)
    temporary = target_path + ".partial"
    with h5py.File(source_path, "r") as source, h5py.File(temporary, "w", **file_options) as target:
        copy_tree(source, target, itertools.cycle(storage), track_order)
    os.replace(temporary, target_path)


def main():
    for model in MODELS:
        source = os.path.join(HERE, f"{model}_tfkeras_model.h5")
        rewrite(source, os.path.join(HERE, f"{model}_tfkeras_model_h5py_chunked.h5"), CHUNKED_STORAGE)
        rewrite(source, os.path.join(HERE, f"{model}_tfkeras_model_h5py_latest.h5"), LATEST_STORAGE,
                libver="latest", track_order=True)
    print("HDF5 storage variants written to", HERE)


if __name__ == "__main__":
    main()
