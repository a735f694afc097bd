#!/usr/bin/env python3
"""Read one tensor of a .vggw file with nothing but numpy (see docs/native-format.md).

usage: read_vggw.py FILE.vggw TENSOR_NAME [OUT.npy]
"""
import json, struct, sys
import numpy as np

def read_tensor(path, name):
    with open(path, "rb") as f:
        magic, version, _, header_len = struct.unpack("<8sIIQ", f.read(24))
        assert magic == b"VGGW\r\n\x1a\n" and version == 1, "not a version-1 .vggw file"
        header = json.loads(f.read(header_len))
    entry = next(t for t in header["tensors"] if t["name"] == name)
    dtype = np.dtype("<u2") if entry["dtype"] == "bfloat16" else np.dtype(entry["dtype"]).newbyteorder("<")
    data = np.fromfile(path, dtype=dtype, count=int(np.prod(entry["shape"])), offset=entry["offset"])
    return data.reshape(entry["shape"])  # bfloat16 comes back as its raw uint16 bits

if __name__ == "__main__":
    tensor = read_tensor(sys.argv[1], sys.argv[2])
    np.save(sys.argv[3], tensor) if len(sys.argv) > 3 else print(tensor.dtype, tensor.shape, tensor.ravel()[:8])
