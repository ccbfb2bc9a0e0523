#!/usr/bin/python3
"""The logits of a taper checkpoint on a test set, computed in float64 by
PyTorch from the model JSON inside the checkpoint: the reference that tells
which of taper's two inference engines (the float engine and the packed
integer engine) a disagreement between them comes from.

  /usr/bin/python3 tests/torch/exact_reference.py RUN/best.safetensors --out ref.st
  /usr/bin/python3 tests/torch/exact_reference.py RUN/best.safetensors --compare int.st float.st

Both engines compute the same network; they differ in where they round. The
float engine sums float32 products in its convolutions; the integer engine
sums integer codes exactly and rounds only in its float32 epilogues. A
pre-activation that lies within that rounding of a quantizer's boundary can
get a different activation code in the two engines, and that code moves the
logits downstream. In float64 (and quantizer levels computed exactly, as
integers over 2^k - 1) the reference has neither engine's float32 rounding,
so whichever engine agrees with it more often is the one closer to the
network's exact arithmetic.

The input images are normalized exactly as taper does (data/transforms.cpp:
(p / 255 - mean) / std in double, then rounded to float32), so the reference
starts from taper's own float32 input. The network is built from the
checkpoint's "model_json" metadata (layers: conv, linear, batchnorm, relu,
qact, add, maxpool, avgpool, globalavgpool, flatten; conv and linear layers
with a "stage" take the stage's weight bits, the rest stay full precision),
with the quantizers of tests/torch/parity.py (mission.md's formulas).

--compare A.st B.st prints, for each of the two logits files (`taper eval
--logits FILE`), how many images agree with the reference on the class and
how many have logits that differ from it by more than 1e-4 (1 + |logit|),
the sign of a flipped activation code somewhere in the network.
"""
import argparse, json, os, struct, sys
import torch, torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import load_st, save_st, qweight, qact  # noqa: E402
from train_compare import load_cifar  # noqa: E402


def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def load_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def test_set(data):
    """uint8 images (N, C, H, W) and labels of taper's copy of the data set."""
    root = os.path.expanduser(f"~/.cache/taper/{data}")
    if data == "cifar10":
        _, _, x, y = load_cifar(root)
        return x, y
    if data in ("fashion-mnist", "mnist"):
        x = load_idx(os.path.join(root, "t10k-images-idx3-ubyte"))
        y = load_idx(os.path.join(root, "t10k-labels-idx1-ubyte")).long()
        return x.unsqueeze(1), y
    sys.exit(f"exact_reference.py: data set '{data}' is not supported (cifar10, fashion-mnist, mnist)")


def forward(spec, p, x, stage_bits, abits):
    """The model JSON's layers in float64; p holds the checkpoint's tensors as float64."""
    out, prev = {"input": x}, "input"
    for L in spec["layers"]:
        name, kind = L["name"], L["type"]
        h = out[L.get("input", prev)] if kind != "add" else None
        if kind == "conv":
            w = p[name + ".weight"]
            if "stage" in L:
                w = qweight(w, stage_bits[L["stage"] - 1])
            h = F.conv2d(h, w, p.get(name + ".bias"), L.get("stride", 1), L.get("padding", 0))
        elif kind == "linear":
            w = p[name + ".weight"]
            if "stage" in L:
                w = qweight(w, stage_bits[L["stage"] - 1])
            h = F.linear(h, w, p.get(name + ".bias"))
        elif kind == "batchnorm":
            h = F.batch_norm(h, p[name + ".running_mean"], p[name + ".running_var"], p[name + ".weight"],
                             p[name + ".bias"], training=False, eps=L.get("eps", 1e-5))
        elif kind == "relu":
            h = F.relu(h)
        elif kind == "qact":
            h = qact(h, abits)
        elif kind == "add":
            a, b = L["inputs"]
            h = out[a] + out[b]
        elif kind in ("maxpool", "avgpool"):
            k = L["kernel"][0] if isinstance(L["kernel"], list) else L["kernel"]
            pool = F.max_pool2d if kind == "maxpool" else F.avg_pool2d
            h = pool(h, k, L.get("stride", k), L.get("padding", 0))
        elif kind == "globalavgpool":
            h = h.mean((2, 3))
        elif kind == "flatten":
            h = h.flatten(1)
        else:
            sys.exit(f"exact_reference.py: layer '{name}': type '{kind}' is not supported here")
        out[name] = h
        prev = name
    return out[prev]


def reference_logits(ckpt, batch=500):
    meta = metadata(ckpt)
    spec = json.loads(meta["model_json"])
    stage_bits = [int(b) for b in meta["stage_bits"].split("-")] if meta.get("stage_bits") else []
    abits = int(meta["abits"])
    mean = torch.tensor(json.loads(meta["normalize_mean"]), dtype=torch.float64).view(1, -1, 1, 1)
    std = torch.tensor(json.loads(meta["normalize_std"]), dtype=torch.float64).view(1, -1, 1, 1)
    p = {k: v.double() for k, v in load_st(ckpt).items() if not k.startswith("optim.") and v.is_floating_point()}
    x, y = test_set(meta["data"])
    logits = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            xb = ((x[i:i + batch].double() / 255.0 - mean) / std).float().double()  # taper's float32 input
            logits.append(forward(spec, p, xb, stage_bits, abits))
    return torch.cat(logits), y


def compare(ref, y, paths):
    r = ref.double()
    print(json.dumps({"reference": "float64", "images": r.shape[0],
                      "accuracy": (r.argmax(1) == y).double().mean().item()}))
    for path in paths:
        l = load_st(path)["logits"].double()
        if l.shape != r.shape:
            sys.exit(f"{path}: logits {list(l.shape)}, reference {list(r.shape)}")
        diff = (l - r).abs()
        flipped = (diff > 1e-4 * (1 + r.abs())).any(1)
        print(json.dumps({"file": path, "accuracy": (l.argmax(1) == y).double().mean().item(),
                          "same_class_as_reference": (l.argmax(1) == r.argmax(1)).double().mean().item(),
                          "images_differing_from_reference": int(flipped.sum().item()),
                          "max_abs_difference": diff.max().item(),
                          "median_abs_difference_elsewhere": diff[~flipped].median().item() if (~flipped).any()
                          else None}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", help="write the float64 logits here (safetensors, \"logits\", float32)")
    ap.add_argument("--compare", nargs="+", metavar="LOGITS.st", help="taper eval --logits files to score")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ref, y = reference_logits(a.checkpoint)
    if a.out:
        save_st(a.out, {"logits": ref.float()})
    if a.compare:
        compare(ref, y, a.compare)


if __name__ == "__main__":
    main()
