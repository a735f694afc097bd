#!/usr/bin/env python3
"""Writes samples/images/variants/: 16-bit PNGs in the colour types whose decoding differs (gray, gray+alpha,
RGBA), encoded here with zlib from the PNG specification (Pillow cannot write 16-bit gray+alpha), and the
CRC-32 of what Pillow's Image.open(path).convert("RGB") decodes from each (manifest.json): vggconv must
decode them bit for bit the same. Run by `make samples`."""
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images", "variants")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, samples, color_type):
    """samples: (H, W, C) uint16, written big-endian at bit depth 16, filter 0 on every row."""
    height, width, _ = samples.shape
    raw = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(16)
    # Values across the whole 16-bit range: the high byte and a clipped value differ almost everywhere.
    variants = {"gray16.png": (0, 1), "gray_alpha16.png": (4, 2), "rgba16.png": (6, 4)}
    manifest = {}
    for name, (color_type, channels) in variants.items():
        samples = rng.integers(0, 65536, (12, 17, channels), dtype=np.uint16)
        path = os.path.join(OUT, name)
        write_png(path, samples, color_type)
        image = Image.open(path)
        rgb = np.asarray(image.convert("RGB"))
        manifest[name] = dict(width=rgb.shape[1], height=rgb.shape[0], mode=image.mode, decoded_crc32=zlib.crc32(rgb.tobytes()))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(dict(generator="samples/generate_png_variants.py", images=manifest), f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
