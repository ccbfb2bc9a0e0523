#!/usr/bin/env python3
"""Compares the tensors of two safetensors files (no NumPy needed).

  same_tensors.py A B            exit 0 when every tensor is byte-identical
  same_tensors.py A B --rel TOL  exit 0 when every float32 tensor agrees within
                                 TOL relative to its largest magnitude; prints
                                 the largest such difference either way
Metadata (which names the run folder) is not compared.
"""
import json
import struct
import sys
from array import array


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    return {k: (v["dtype"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if a.keys() != b.keys():
        print("different tensor names:", sorted(set(a) ^ set(b)))
        return 1
    if len(sys.argv) == 3:
        bad = [k for k in a if a[k] != b[k]]
        print("%d tensors, %s" % (len(a), "byte-identical" if not bad else "differ: " + ", ".join(bad[:5])))
        return 1 if bad else 0
    tol = float(sys.argv[4])
    worst, where = 0.0, ""
    for k in a:
        if a[k][0] != "F32":
            continue
        x, y = array("f", a[k][1]), array("f", b[k][1])
        scale = max((abs(v) for v in x), default=0.0) or 1.0
        d = max((abs(p - q) for p, q in zip(x, y)), default=0.0) / scale
        if d > worst:
            worst, where = d, k
    print("largest relative difference %.3g (%s)" % (worst, where))
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
