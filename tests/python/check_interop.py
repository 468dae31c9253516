#!/usr/bin/env python3
"""Interoperability checks between our C++ checkpoint I/O and Python's torch.

  check_interop.py check DIR [KEY=VALUE ...]
      DIR/interop.pth is loaded with torch.load, DIR/interop.safetensors is parsed here with
      json + struct only (no safetensors package). Both must hold the same names (in the same
      order), shapes, dtypes and bit patterns; each KEY=VALUE must be in the safetensors metadata.
  check_interop.py write DIR
      Writes, for the C++ reader to compare:
        from_python.pth / .safetensors      an OrderedDict of bf16/fp16/fp32/int64 tensors
                                            (torch.save / our own unpadded safetensors writer)
        from_python_wrapped.pth             {"state_dict": <the same>, plus non-tensor values}
        from_python_single.pth / .safetensors   a one-entry dict (pickled with SETITEM)
        from_python_module.pth / .safetensors   nn.Module.state_dict() (OrderedDict with
                                            _metadata) plus an nn.Parameter
        from_python_cuda.pth                the one-entry dict with storages tagged "cuda:0"
Exits non-zero with a message on any difference.
"""
import collections
import json
import math
import os
import struct
import sys
import types

import torch

DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1),
}
NAME_OF = {dtype: name for name, (dtype, _) in DTYPES.items()}


def fail(message):
    print("check_interop: " + message, file=sys.stderr)
    sys.exit(1)


def raw_bytes(tensor):
    # Bit patterns, so NaNs and -0.0 compare exactly.
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail(f"{path}: shorter than 8 bytes")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        fail(f"{path}: header length {header_len} past the end of the file")
    if header_len % 8 != 0:
        fail(f"{path}: header length {header_len} is not padded to a multiple of 8")
    header = json.loads(blob[8:8 + header_len].decode("utf-8"),
                        object_pairs_hook=collections.OrderedDict)
    data = blob[8 + header_len:]
    metadata = header.pop("__metadata__", {})
    tensors = collections.OrderedDict()
    for name, spec in header.items():
        if spec["dtype"] not in DTYPES:
            fail(f"{path}: key {name!r}: unknown dtype {spec['dtype']}")
        dtype, size = DTYPES[spec["dtype"]]
        shape = list(spec["shape"])
        begin, end = spec["data_offsets"]
        numel = math.prod(shape)
        if not (0 <= begin <= end <= len(data)) or end - begin != numel * size:
            fail(f"{path}: key {name!r}: bad data_offsets {begin}, {end} for shape {shape}")
        if numel:
            flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors):
    header, chunks, offset = collections.OrderedDict(), [], 0
    for name, tensor in tensors.items():
        data = raw_bytes(tensor).numpy().tobytes()
        header[name] = {"dtype": NAME_OF[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")  # deliberately unpadded: padding is optional
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def check(directory, expected_metadata):
    pth_path = os.path.join(directory, "interop.pth")
    st_path = os.path.join(directory, "interop.safetensors")
    reference = torch.load(pth_path, map_location="cpu")
    if not isinstance(reference, dict):
        fail(f"{pth_path}: torch.load gave {type(reference).__name__}, not a dict")
    tensors, metadata = read_safetensors(st_path)
    if list(reference) != list(tensors):
        fail(f"names differ: .pth {list(reference)} vs .safetensors {list(tensors)}")
    for name, ref in reference.items():
        got = tensors[name]
        if not isinstance(ref, torch.Tensor):
            fail(f"{pth_path}: key {name!r} is a {type(ref).__name__}, not a tensor")
        if ref.dtype != got.dtype:
            fail(f"key {name!r}: dtype {ref.dtype} in .pth, {got.dtype} in .safetensors")
        if list(ref.shape) != list(got.shape):
            fail(f"key {name!r}: shape {list(ref.shape)} in .pth, {list(got.shape)} in .safetensors")
        if not torch.equal(raw_bytes(ref), raw_bytes(got)):
            fail(f"key {name!r}: values differ")
    for item in expected_metadata:
        key, _, value = item.partition("=")
        if metadata.get(key) != value:
            fail(f"{st_path}: metadata {key!r} is {metadata.get(key)!r}, expected {value!r}")
    print(f"check_interop: {len(reference)} tensors agree")


def python_tensors():
    gen = torch.Generator().manual_seed(1234)
    base = torch.randn(5, 7, generator=gen)
    base[0, 0] = float("nan")
    base[0, 1] = -0.0
    return collections.OrderedDict([
        ("w_bf16", (base * 2).to(torch.bfloat16)),
        ("w_fp16", (base * 3).to(torch.float16)),
        ("w_fp32", base.clone()),
        ("w_fp32_3d", torch.randn(2, 3, 4, generator=gen)),
        ("steps", torch.arange(-3, 9, dtype=torch.int64)),
        ("transposed", base.t()),  # saved as a strided view of base's storage
    ])


def write(directory):
    def out(name):
        return os.path.join(directory, name)

    tensors = python_tensors()
    torch.save(tensors, out("from_python.pth"))
    write_safetensors(out("from_python.safetensors"), tensors)
    # Checkpoint wrappers carry all sorts of non-tensor values next to the weights.
    wrapped = {"epoch": 3, "note": "not a tensor", "lr": 1e-3, "big": 2 ** 70, "raw": b"\x00\x01",
               "args": types.SimpleNamespace(n_layer=4), "history": [1, 2.5, None, (True, False)],
               "state_dict": tensors}
    torch.save(wrapped, out("from_python_wrapped.pth"))

    single = {"only": torch.tensor([1.5, -2.5], dtype=torch.float32)}
    torch.save(single, out("from_python_single.pth"))
    write_safetensors(out("from_python_single.safetensors"), single)

    torch.manual_seed(5)
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    state = module.state_dict()  # an OrderedDict with a _metadata attribute
    state["extra_param"] = torch.nn.Parameter(torch.full((2, 2), 0.25))
    torch.save(state, out("from_python_module.pth"))
    write_safetensors(out("from_python_module.safetensors"), state)
    # As if saved from a GPU: the storages say "cuda:0"; a CPU-only reader must still load them.
    real_location_tag = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(single, out("from_python_cuda.pth"))
    finally:
        torch.serialization.location_tag = real_location_tag
    print(f"check_interop: wrote test files to {directory}")


def main(argv):
    if len(argv) >= 3 and argv[1] == "check":
        check(argv[2], argv[3:])
    elif len(argv) == 3 and argv[1] == "write":
        write(argv[2])
    else:
        fail("usage: check_interop.py check DIR [KEY=VALUE ...] | write DIR")


if __name__ == "__main__":
    main(sys.argv)
