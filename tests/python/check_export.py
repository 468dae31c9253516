"""Checks an export with PyTorch: <dir>/<name>_rwkv.pth holds the rwkv.* tensors without the prefix,
<dir>/<name>_visual.pth the rest with their names, both equal to the checkpoint's model.safetensors
(read with json + struct only), and the language model file holds the names RWKV inference tools
read for its generation (v6 by default, v7 with a fourth argument "v7"). Exits non-zero with a
message on any difference.

  check_export.py DIR NAME CHECKPOINT.safetensors [v6|v7]"""
import json
import struct
import sys

import torch

DTYPES = {"F32": (torch.float32, 4), "BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2), "I64": (torch.int64, 8)}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype, _ = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        raw = bytearray(data[8 + n + begin : 8 + n + end])
        out[key] = torch.frombuffer(raw, dtype=dtype).reshape(info["shape"]) if raw else torch.empty(info["shape"], dtype=dtype)
    return out


def main():
    folder, name, checkpoint = sys.argv[1], sys.argv[2], sys.argv[3]
    reference = read_safetensors(checkpoint)
    rwkv = torch.load(f"{folder}/{name}_rwkv.pth", map_location="cpu")
    visual = torch.load(f"{folder}/{name}_visual.pth", map_location="cpu")
    expected_rwkv = {k[5:]: v for k, v in reference.items() if k.startswith("rwkv.")}
    expected_visual = {k: v for k, v in reference.items() if not k.startswith("rwkv.")}
    for label, got, want in (("rwkv", rwkv, expected_rwkv), ("visual", visual, expected_visual)):
        if set(got) != set(want):
            sys.exit(f"{label}: names differ: {sorted(set(got) ^ set(want))[:5]}")
        for k, v in want.items():
            if tuple(got[k].shape) != tuple(v.shape):
                sys.exit(f"{label}: {k}: shape {tuple(got[k].shape)} != {tuple(v.shape)}")
            if not torch.equal(got[k].to(v.dtype), v):
                sys.exit(f"{label}: {k}: values differ")
    family = sys.argv[4] if len(sys.argv) > 4 else "v6"
    # What RWKV inference tools read first: v6's bonus u (time_faaaa); x070's mixes, value residual
    # LoRA (layer 1 on), kk and a scales, r_k and the per-head GroupNorm.
    needed = {"v6": ("blocks.0.att.time_faaaa",),
              "v7": ("blocks.0.att.x_r", "blocks.0.att.w0", "blocks.1.att.v0", "blocks.0.att.k_k",
                     "blocks.0.att.k_a", "blocks.0.att.r_k", "blocks.0.att.ln_x.weight", "blocks.0.ffn.x_k")}[family]
    for k in ("emb.weight", "head.weight", "ln_out.weight") + needed:
        if k not in rwkv:
            sys.exit(f"rwkv: {k} missing (RWKV inference tools need it)")
    print(f"check_export: {len(rwkv)} rwkv and {len(visual)} visual tensors agree")


if __name__ == "__main__":
    main()
