#!/usr/bin/env python3
"""An independent reader of taper's packed model files (NumPy only).

docs/packed-format.md describes the file. This reader opens it, unpacks
every conv/linear weight to its training-grid values and, with --check,
compares them with the weights a taper checkpoint gives after the
quantizer formulas (mission.md, "The quantizers"), computed here in NumPy:

  k >= 2:  T = tanh(W), M_i = max_j |T_ij|, Wq = 2 Q_k(T / (2 M_i) + 1/2) - 1,
           Q_k(x) = round_half_even((2^k - 1) x) / (2^k - 1)
  k  = 1:  Wb = s_i sign(W) (sign(0) = +1), s_i = mean_j |W_ij| (per tensor: one s)

usage:
  taper_packed.py FILE.taper                 per layer: bits, shape, distinct grid values
  taper_packed.py FILE.taper --npz OUT.npz   also save every weight's grid values
  taper_packed.py FILE.taper --check CKPT    compare with the checkpoint's quantized weights
                                             (exit 1 on a mismatch)
  taper_packed.py --compare-logits A B       two `taper eval --logits` files: same class, logit
                                             differences (the round trip in docs/packed-format.md)
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """(metadata dict, {name: array}) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    buf = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(buf[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return meta, tensors


def unpack_codes(packed, n, k):
    """Codes of n weights packed at k bits: code i is bits i*k .. i*k+k-1, least significant first."""
    bits = np.unpackbits(packed, bitorder="little")[: n * k].reshape(n, k).astype(np.int64)
    return (bits << np.arange(k)).sum(axis=1)


def grid_values(codes, k, shape, scale=None):
    """The training grid: k >= 2: 2 (q / L) - 1 in float32; k = 1: s_c (2q - 1)."""
    if k == 1:
        rows = shape[0]
        s = np.broadcast_to(np.asarray(scale, dtype=np.float32).reshape(-1), (rows,)) if scale is not None \
            else np.ones(rows, np.float32)
        signs = (2 * codes - 1).astype(np.float32).reshape(rows, -1)
        return (s[:, None] * signs).reshape(shape)
    L = np.float32(2 ** k - 1)
    q = codes.astype(np.float32)
    return (np.float32(2.0) * (q / L) - np.float32(1.0)).astype(np.float32).reshape(shape)


def packed_weights(path):
    """{layer: (bits, float32 grid values in PyTorch layout)} of every conv/linear layer."""
    meta, t = read_safetensors(path)
    if meta.get("format") != "taper-packed":
        raise SystemExit(f"{path}: not a taper packed model")
    if meta.get("format_version") != "1":
        raise SystemExit(f"{path}: packed format version {meta.get('format_version')}, this reader knows 1")
    out = {}
    for layer in json.loads(meta["layers"]):
        if "wbits" not in layer:
            continue
        name, k, shape = layer["name"], layer["wbits"], layer["weight_shape"]
        w = t[name + ".weight"]
        if k == 32:
            out[name] = (32, w.astype(np.float32))
            continue
        n = int(np.prod(shape))
        codes = unpack_codes(w, n, k)
        out[name] = (k, grid_values(codes, k, shape, t.get(name + ".scale")))
    return meta, out


def quantize_reference(w, k, per_tensor=False, boundary=None):
    """The quantizer formulas on a float weight (rows = output channels). With
    boundary (a list), appends a mask of the weights whose L u lies within
    1e-4 of a rounding boundary (k >= 2)."""
    rows = w.shape[0]
    m = w.reshape(rows, -1).astype(np.float32)
    if k == 1:
        absw = np.abs(m).astype(np.float64)
        s = (absw.sum(axis=1) / m.shape[1]) if not per_tensor else np.full(rows, absw.sum() / absw.size)
        s = s.astype(np.float32)
        return (s[:, None] * np.where(m >= 0, np.float32(1), np.float32(-1))).reshape(w.shape)
    T = np.tanh(m)
    M = np.abs(T).max(axis=1, keepdims=True)
    M = np.where(M == 0, np.float32(1), M)
    u = T / (np.float32(2) * M) + np.float32(0.5)
    L = np.float32(2 ** k - 1)
    x = L * u
    if boundary is not None:
        boundary.append((np.abs(x - np.floor(x) - np.float32(0.5)) < 1e-4).reshape(w.shape))
    q = np.round(x) / L  # numpy rounds half to even, as std::nearbyint
    return (np.float32(2) * q - np.float32(1)).astype(np.float32).reshape(w.shape)


def check(packed_path, ckpt_path):
    """Compares every weight's grid values with the checkpoint's quantized weights; returns mismatches."""
    meta, weights = packed_weights(packed_path)
    _, ckpt = read_safetensors(ckpt_path)
    per_tensor = meta.get("binarize_per_tensor") == "1"
    bad = 0
    for name, (k, grid) in weights.items():
        ref = ckpt[name + ".weight"].astype(np.float32)
        boundary = []
        if k != 32:
            ref = quantize_reference(ref, k, per_tensor, boundary)
        if ref.shape != grid.shape:
            print(f"{name}: shape {grid.shape} in the packed file, {ref.shape} in the checkpoint")
            bad += 1
            continue
        if k == 1:  # the scale is a mean in double rounded once; allow its last bit
            diff = np.abs(grid - ref) > 1e-6 * np.abs(ref)
        else:
            diff = grid != ref
        # k >= 2: NumPy's float32 tanh can differ from C++'s std::tanh by an ulp,
        # which may move a weight by one grid step where L u sits on a rounding
        # boundary; such a weight is counted apart, any other difference is a mismatch.
        tie = np.zeros_like(diff)
        if boundary:
            tie = diff & boundary[0] & (np.abs(grid - ref) <= np.float32(2) / np.float32(2 ** k - 1) + 1e-6)
        n, n_tie = int((diff & ~tie).sum()), int(tie.sum())
        status = "ok" if n == 0 else "MISMATCH"
        print(f"{name:16s} {k:2d} bits {str(tuple(grid.shape)):22s} {n} of {grid.size} differ "
              f"({n_tie} at a rounding tie)  {status}")
        bad += n > 0
    return bad


def compare_logits(a_path, b_path):
    _, a = read_safetensors(a_path)
    _, b = read_safetensors(b_path)
    la, lb = a["logits"], b["logits"]
    y = a["labels"]
    d = np.abs(la - lb).max(axis=1)
    print(json.dumps({"images": int(len(y)), "same_class": float((la.argmax(1) == lb.argmax(1)).mean()),
                      "accuracy_a": float((la.argmax(1) == y).mean()), "accuracy_b": float((lb.argmax(1) == y).mean()),
                      "images_with_any_difference": int((d > 0).sum()),
                      "images_with_difference_gt_1e-4": int((d > 1e-4).sum()), "max_abs_difference": float(d.max()),
                      "mean_abs_logit": float(np.abs(lb).mean())}))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--compare-logits":
        return compare_logits(argv[2], argv[3])
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    path = argv[1]
    if len(argv) == 4 and argv[2] == "--check":
        return 1 if check(path, argv[3]) else 0
    meta, weights = packed_weights(path)
    print(f"{meta['model_name']}: wbits {meta['wbits']} ({meta['stage_bits']}), abits {meta['abits']}, "
          f"classes {meta['classes']}")
    for name, (k, grid) in weights.items():
        distinct = np.unique(grid).size
        print(f"{name:16s} {k:2d} bits {str(tuple(grid.shape)):22s} {distinct} distinct values "
              f"in [{grid.min():.6g}, {grid.max():.6g}]")
    if len(argv) == 4 and argv[2] == "--npz":
        np.savez(argv[3], **{name: grid for name, (k, grid) in weights.items()})
    elif len(argv) != 2:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
