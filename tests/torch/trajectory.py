#!/usr/bin/python3
"""taper's training steps against PyTorch's from the same start: same initial
weights, same images, same optimizer and schedule, so that nothing random is
left and any difference is the programs'.

train_compare.py compares the two programs' accuracies on a recipe, where
the random numbers (initial weights, data order, crops, flips) differ and the
seeds' spread hides small systematic differences. This script removes the
randomness instead:

1. `taper train ... --lr 0 --epochs 1` writes taper's initial weights for the
   seed (lr 0: SGD leaves the weights as drawn; weight decay is scaled by lr).
2. `taper train ... --epochs K` runs K steps: one batch holding all --limit
   images per epoch, no augmentation, no validation split, cosine lr per
   epoch, SGD with momentum 0.9 and weight decay 2e-4 on conv and linear
   weights (the recipe of tests/torch/compare.sh, whose epochs have 351-391
   batches).
3. PyTorch starts from step 1's weights (batch-norm running statistics 0 and
   1) and takes the same K steps on the same images with torch.optim.SGD,
   through parity.py's model (mission.md's quantizers).

It prints the loss of every step on both sides and, after the last step, the
difference of every parameter and running statistic, and checks taper's
initial weights against PyTorch's default initialization (uniform within
+-1/sqrt(fan_in) for conv and linear weights and the linear bias, batch norm
weight 1 and bias 0), which train_compare.py's PyTorch side uses.

  /usr/bin/python3 tests/torch/trajectory.py --taper build/taper [--wbits 2 --abits 2]
      [--steps 20] [--limit 512] [--seed 1] [--work DIR]

Exit 1 if a step's loss differs by more than --loss-tol (relative) or the
initialization is out of its distribution. In fp32 the two trajectories
differ only by float rounding; with quantized weights a weight that crosses a
rounding boundary on one side only changes the network, so later steps may
drift apart by more than rounding. The printout shows where that starts.
"""
import argparse, json, math, os, subprocess, sys, tempfile
import torch, torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import load_st, preact_forward  # noqa: E402
from train_compare import load_cifar, channel_stats, normalize  # noqa: E402

RUNNING = ("running_mean", "running_var")


def taper_run(a, out, lr, epochs):
    cmd = [a.taper, "train", "--model", "resnet20-preact", "--data", "cifar10", "--wbits", a.wbits,
           "--abits", str(a.abits), "--epochs", str(epochs), "--lr", str(lr), "--schedule", "cosine",
           "--limit", str(a.limit), "--batch", str(a.limit), "--val-split", "0", "--augment", "none",
           "--seed", str(a.seed), "--threads", "1", "--out", out]
    if not os.path.isfile(os.path.join(out, "result.json")):  # a finished run of an earlier call is reused
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    st = load_st(os.path.join(out, "last.safetensors"))
    steps = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return {k: v for k, v in st.items() if not k.startswith("optim.")}, steps


def check_init(params):
    """taper's initial weights against PyTorch's default distributions; returns failures."""
    bad = 0
    for name, w in sorted(params.items()):
        if name.endswith(RUNNING):
            continue
        if name.endswith(".weight") and w.dim() > 1 or name == "fc.bias":
            fan_in = params[name.replace(".bias", ".weight")][0].numel()
            bound = 1 / math.sqrt(fan_in)
            # uniform(-b, b): max |w| <= b, std b/sqrt(3); with n >= 270 samples the std is
            # within 15% of it with overwhelming probability.
            std = w.double().std().item()
            ok = w.abs().max().item() <= bound * (1 + 1e-6) and (w.numel() < 100 or
                                                                 abs(std / (bound / math.sqrt(3)) - 1) < 0.15)
            detail = f"max |w| {w.abs().max().item():.4f} <= {bound:.4f}, std {std:.4f} vs {bound / math.sqrt(3):.4f}"
        else:  # batch norm weight 1, bias 0
            want = 1.0 if name.endswith(".weight") else 0.0
            ok = bool((w == want).all())
            detail = f"all {want}"
        if not ok:
            print(f"init FAIL {name}: {detail}")
        bad += not ok
    n = sum(not k.endswith(RUNNING) for k in params)
    print(f"initial weights: {n - bad} of {n} tensors drawn as PyTorch's defaults draw them")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--taper", required=True)
    ap.add_argument("--wbits", default="2", help="32, k or a-b-c (stages 1-3)")
    ap.add_argument("--abits", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--limit", type=int, default=512, help="images, all in the one batch of every step")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--loss-tol", type=float, default=1e-3,
                    help="relative; the bound is the larger of this and 3x PyTorch's own float32 error")
    ap.add_argument("--work", help="folder for taper's two runs (default: a new temporary folder)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    work = a.work or tempfile.mkdtemp(prefix="taper-trajectory-")
    init, _ = taper_run(a, os.path.join(work, "init"), 0, 1)
    final, steps = taper_run(a, os.path.join(work, "steps"), a.lr, a.steps)
    failures = check_init(init)

    parts = [int(p) for p in a.wbits.split("-")]
    wbits = parts * 3 if len(parts) == 1 else parts
    xtr, ytr, _, _ = load_cifar(os.path.expanduser("~/.cache/taper/cifar10"))
    xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    mean, std = channel_stats(xtr)
    x = normalize(xtr, mean, std)
    ref64 = torch_trajectory(init, x, ytr, wbits, a, torch.float64, False)
    variants = {"torch f32": torch_trajectory(init, x, ytr, wbits, a, torch.float32, False),
                "torch f32 reordered": torch_trajectory(init, x, ytr, wbits, a, torch.float32, True)}

    print(f"resnet20-preact w{a.wbits} a{a.abits}, {a.limit} CIFAR-10 images per step, seed {a.seed}")
    print("loss before each step; error: |loss - float64| / float64")
    print("step  lr        float64     taper f32 error  " + "  ".join(f"{v} error" for v in variants))
    l64 = ref64[0]
    worst = {"taper": 0.0, **{v: 0.0 for v in variants}}
    for e in range(a.steps):
        errs = {"taper": abs(steps[e]["train_loss"] - l64[e]) / l64[e],
                **{v: abs(variants[v][0][e] - l64[e]) / l64[e] for v in variants}}
        worst = {k: max(worst[k], errs[k]) for k in worst}
        print(f"{e + 1:4d}  {lr_at(e, a):.5f}  {l64[e]:10.6f}  {errs['taper']:15.2e}  " +
              "  ".join(f"{errs[v]:{len(v) + 6}.2e}" for v in variants))
    # Float32 rounding alone moves the loss: by little in fp32, and by much more with quantized
    # weights and activations, where a sum that lands on the other side of a rounding boundary
    # changes a code. PyTorch with its convolutions' input channels summed in the reverse order
    # measures how much; taper may stray from float64 by no more than a few times that.
    bound = max(a.loss_tol, 3 * max(worst[v] for v in variants))
    ok = worst["taper"] <= bound
    failures += not ok
    print(f"largest loss error over the steps: taper {worst['taper']:.2e}, " +
          ", ".join(f"{v} {worst[v]:.2e}" for v in variants) +
          f"; bound max(--loss-tol, 3 x PyTorch's) = {bound:.2e}: {'ok' if ok else 'FAIL'}")

    print("after the last step, per tensor: max |x - float64| / max |float64| (the 8 worst for taper)")
    print("  taper f32  " + "  ".join(variants) + "  tensor")
    rows = []
    for k in sorted(ref64[1]):
        want = ref64[1][k].double()
        scale = want.abs().max().item() or 1.0
        rows.append(((final[k].double() - want).abs().max().item() / scale,
                     *[(variants[v][1][k].double() - want).abs().max().item() / scale for v in variants], k))
    for r in sorted(rows, reverse=True)[:8]:
        print("  " + "  ".join(f"{d:{max(9, len(v))}.2e}" for d, v in zip(r[:-1], ["taper f32", *variants])) +
              f"  {r[-1]}")
    print("match" if not failures else f"{failures} failures")
    return 1 if failures else 0


def lr_at(e, a):
    return 0.5 * a.lr * (1 + math.cos(math.pi * e / a.steps))


def torch_trajectory(init, x, y, wbits, a, dtype, reorder):
    """PyTorch's a.steps steps from taper's initial weights; returns the loss before every
    step and the parameters and running statistics after the last. reorder: every
    convolution sums its input channels in the reverse order (same math, other rounding)."""
    conv = F.conv2d
    F.conv2d = (lambda inp, w, *r, **kw: conv(inp.flip(1), w.flip(1), *r, **kw)) if reorder else conv
    try:
        return torch_steps(init, x, y, wbits, a, dtype)
    finally:
        F.conv2d = conv


def torch_steps(init, x, y, wbits, a, dtype):
    p = {k: ((torch.zeros_like(v) if k.endswith("running_mean") else torch.ones_like(v)) if k.endswith(RUNNING)
             else v.clone()).to(dtype) for k, v in init.items()}
    leaves = [k for k in sorted(p) if not k.endswith(RUNNING)]
    for k in leaves:
        p[k].requires_grad_(True)
    decay = [p[k] for k in leaves if p[k].dim() > 1]
    rest = [p[k] for k in leaves if p[k].dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 2e-4}, {"params": rest, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9)
    x = x.to(dtype)
    losses = []
    for e in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(e, a)
        loss = F.cross_entropy(preact_forward(p, x, wbits, a.abits, True, 1.0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: v.detach() for k, v in p.items()}


if __name__ == "__main__":
    sys.exit(main())
