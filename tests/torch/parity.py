#!/usr/bin/python3
"""Checks `taper forward` against PyTorch on vgg7-fmnist.

Builds vgg7-fmnist in PyTorch with the quantizer formulas of the project's
mission document (kept outside this repository; docs/quantization.md states
them), writes weights and inputs as safetensors, and compares
taper's logits, loss, parameter gradients and updated running statistics in
fp32, w2a2 and progressive 8-4-2-1-1-1-1 a2, in training and evaluation mode.

  /usr/bin/python3 tests/torch/parity.py --taper build/taper            # check, full width
  /usr/bin/python3 tests/torch/parity.py --width 0.125 --write-golden tests/golden
                                         # regenerate the small golden files CTest uses

Needs Debian's python3-torch. Debian has no safetensors package, so this
script reads and writes the format itself.

A quantized network turns one weight that rounds differently into a different
network, so the test weights are built from their quantized levels: each
row's arg-max element sits at T = +-M and every other element at the centre
of a rounding cell (far from a boundary), then W = atanh(T). Activations are
quantized too, and their inputs depend on summation order; a few elements may
round differently in the two programs. The comparison bounds the share of
elements that differ (kMaxDifferingShare) instead of ignoring them.
"""
import argparse, json, math, os, struct, subprocess, sys, tempfile
import torch, torch.nn as nn, torch.nn.functional as F

CONFIGS = {"fp32": ([32] * 7, 32), "w2a2": ([2] * 7, 2), "progressive": ([8, 4, 2, 1, 1, 1, 1], 2)}
RTOL, ATOL = 1e-3, 1e-4          # per element, relative to the tensor's largest magnitude for ATOL
MAX_DIFFERING_SHARE = {"fp32": 0.0, "w2a2": 0.02, "progressive": 0.02}


# ---- safetensors, by hand ------------------------------------------------------------------
def save_st(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dtype = {"F32": torch.float32, "I64": torch.int64}[e["dtype"]]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + end]), dtype=dtype).reshape(e["shape"])
    return out


# ---- the quantizers of mission.md ------------------------------------------------------------
class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)  # round half to even, like std::nearbyint

    @staticmethod
    def backward(ctx, g):
        return g


def quantize_k(x, k):
    n = 2 ** k - 1
    return RoundSTE.apply(x * n) / n


class SignScaled(torch.autograd.Function):
    """s * sign(W), s = mean|W| per output channel, sign(0) = +1; dW = g * 1{|W| < 1}."""
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        s = w.abs().flatten(1).mean(1).view(-1, *([1] * (w.dim() - 1)))
        return s * torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * (w.abs() < 1).to(g.dtype)


def qweight(w, k):
    if k == 32:
        return w
    if k == 1:
        return SignScaled.apply(w)
    t = torch.tanh(w)
    m = t.abs().flatten(1).max(1)[0].view(-1, *([1] * (w.dim() - 1)))
    return 2 * quantize_k(t / (2 * m) + 0.5, k) - 1


def qact(x, k):
    if k == 32:
        return F.relu(x)
    return quantize_k(torch.clamp(x, 0, 1), k)


# ---- vgg7-fmnist, layer names as in models/vgg7-fmnist.json -----------------------------------
def layer_shapes(width):
    c = [max(1, round(w * width)) for w in (64, 64, 128, 128, 256, 256)]
    fc = max(1, round(512 * width))
    return c, fc


def make_params(wbits, width, gen):
    """Weights built from their quantized levels (see the module docstring)."""
    chans, fc = layer_shapes(width)
    p, cin = {}, 1
    shapes = [(f"conv{i + 1}", (c, chans[i - 1] if i else 1, 3, 3)) for i, c in enumerate(chans)]
    shapes.append(("fc1", (fc, chans[-1] * 9)))
    for (name, shape), k in zip(shapes, wbits):
        p[name + ".weight"] = weight_for_bits(shape, k, gen)
    p["fc_out.weight"] = torch.randn(10, fc, generator=gen) / math.sqrt(fc)
    p["fc_out.bias"] = torch.randn(10, generator=gen) * 0.1
    for i, c in enumerate(chans + [fc]):
        name = f"bn{i + 1}" if i < 6 else "bn_fc1"
        p[name + ".weight"] = 0.5 + torch.rand(c, generator=gen)
        p[name + ".bias"] = (torch.rand(c, generator=gen) - 0.5) * 0.4
        p[name + ".running_mean"] = (torch.rand(c, generator=gen) - 0.5) * 0.2
        p[name + ".running_var"] = 0.5 + torch.rand(c, generator=gen)
    return p


def weight_for_bits(shape, k, gen):
    rows, cols = shape[0], int(torch.tensor(shape[1:]).prod())
    if k == 32:
        return torch.randn(shape, generator=gen) / math.sqrt(cols)
    if k == 1:  # magnitudes away from 0; a few beyond 1 so the 1{|W| < 1} mask matters
        mag = 0.05 + 0.9 * torch.rand(rows, cols, generator=gen)
        mag[torch.rand(rows, cols, generator=gen) < 0.1] += 0.5
        sign = torch.where(torch.rand(rows, cols, generator=gen) < 0.5, -1.0, 1.0)
        return (mag * sign).reshape(shape)
    n = 2 ** k - 1
    m = 0.3 + 0.5 * torch.rand(rows, 1, generator=gen)               # M_i = max_j |T_ij|
    level = torch.randint(0, n + 1, (rows, cols), generator=gen)     # Q_k level of each element
    u = level.double() / n                                           # centre of the rounding cell
    t = (2 * u - 1) * m.double() * 0.999                             # |T| < M for all but the arg-max
    t[:, 0] = m[:, 0].double()                                       # the arg-max: T = M, level n
    return torch.atanh(t).float().reshape(shape)


def forward(p, x, wbits, abits, train):
    """Returns logits; p holds leaf tensors (requires_grad) and running stats (updated in train mode)."""
    h = x
    for i in range(6):
        h = F.conv2d(h, qweight(p[f"conv{i + 1}.weight"], wbits[i]), padding=1)
        bn = f"bn{i + 1}"
        h = F.batch_norm(h, p[bn + ".running_mean"], p[bn + ".running_var"], p[bn + ".weight"], p[bn + ".bias"],
                         training=train, momentum=0.1, eps=1e-5)
        h = qact(h, abits)
        if i % 2 == 1:
            h = F.max_pool2d(h, 2)
    h = h.flatten(1)
    h = F.linear(h, qweight(p["fc1.weight"], wbits[6]))
    h = F.batch_norm(h, p["bn_fc1.running_mean"], p["bn_fc1.running_var"], p["bn_fc1.weight"], p["bn_fc1.bias"],
                     training=train, momentum=0.1, eps=1e-5)
    h = qact(h, abits)
    return F.linear(h, p["fc_out.weight"], p["fc_out.bias"])


def reference(params, x, labels, wbits, abits, train):
    p = {k: v.clone() for k, v in params.items()}
    leaves = [k for k in p if not k.endswith(("running_mean", "running_var"))]
    for k in leaves:
        p[k].requires_grad_(True)
    logits = forward(p, x, wbits, abits, train)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(())}
    for k in leaves:
        out[k + ".grad"] = p[k].grad
    for k in p:
        if k.endswith(("running_mean", "running_var")):
            out["state." + k] = p[k]
    return out


def compare(name, got, want, cfg):
    """Share of elements outside tolerance; prints the worst."""
    got, want = got.double().flatten(), want.double().flatten()
    if got.shape != want.shape:
        return 1.0, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    scale = want.abs().max().item() or 1.0
    bad = (got - want).abs() > ATOL * scale + RTOL * want.abs()
    share = bad.double().mean().item()
    worst = (got - want).abs().max().item()
    return share, f"{name}: {bad.sum().item()}/{bad.numel()} differ (share {share:.4f}), max |diff| {worst:.3g}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--taper", help="path to the taper binary: check it against PyTorch")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--verbose", action="store_true", help="print every compared tensor")
    ap.add_argument("--write-golden", metavar="DIR", help="write inputs, weights and expected outputs here")
    a = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2024)
    x = torch.randn(a.batch, 1, 28, 28, generator=gen)
    labels = torch.randint(0, 10, (a.batch,), generator=gen)
    work = a.write_golden or tempfile.mkdtemp(prefix="taper-parity-")
    os.makedirs(work, exist_ok=True)
    save_st(os.path.join(work, "parity_input.safetensors"), {"input": x, "labels": labels})
    failures = 0
    for cfg, (wbits, abits) in CONFIGS.items():
        params = make_params(wbits, a.width, gen)
        wpath = os.path.join(work, f"parity_{cfg}_weights.safetensors")
        save_st(wpath, params)
        for mode in ("train", "eval"):
            want = reference(params, x, labels, wbits, abits, mode == "train")
            epath = os.path.join(work, f"parity_{cfg}_{mode}_expected.safetensors")
            if a.write_golden:
                save_st(epath, want)
            if not a.taper:
                continue
            out, saved = os.path.join(work, "out.safetensors"), os.path.join(work, "saved.safetensors")
            cmd = [a.taper, "forward", "vgg7-fmnist", "--input", os.path.join(work, "parity_input.safetensors"),
                   "--weights", wpath, "--output", out, "--save-weights", saved, "--wbits",
                   "-".join(map(str, wbits)), "--abits", str(abits), "--width", str(a.width)]
            if mode == "train":
                cmd.append("--train")
            subprocess.run(cmd, check=True)
            got = load_st(out)
            got.update({"state." + k: v for k, v in load_st(saved).items() if k.endswith(("mean", "var"))})
            for name in sorted(want):
                share, msg = compare(name, got[name], want[name], cfg)
                ok = share <= MAX_DIFFERING_SHARE[cfg]
                failures += not ok
                if not ok or name in ("logits", "loss") or a.verbose:
                    print(f"{cfg:11s} {mode:5s} {'ok  ' if ok else 'FAIL'} {msg}")
    if a.taper:
        print("all match" if not failures else f"{failures} tensors differ beyond the bounds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
