#!/usr/bin/python3
"""Each configuration of a grid against one baseline configuration, from the
grid's results.csv (taper report): test accuracy at best val per seed, the
mean and sample standard deviation, weight bytes, and the difference of the
means next to its standard error (Welch: sqrt(s_a^2 / n_a + s_b^2 / n_b)).
A difference within about two standard errors is what the seeds alone give.

  /usr/bin/python3 experiments/contrasts.py results/GRID/results.csv BASELINE

A configuration is what taper report groups seeds by: model, data, weight
and activation bits, width or match_size. Its label is "wBITS aBITS", with
the model, data and size prefixed when the grid has more than one of them.
BASELINE is a label as printed, e.g. "w2 a2". Bad arguments exit with 2.
"""
import csv, math, sys


def fail(msg):
    print(f"contrasts.py: {msg}", file=sys.stderr)
    sys.exit(2)


if len(sys.argv) != 3:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
path, base = sys.argv[1:]
try:
    rows = list(csv.DictReader(open(path)))
except OSError as e:
    fail(f"cannot read {path}: {e.strerror} (expected a results.csv written by taper report)")
need = ["model", "data", "wbits", "abits", "width", "match_size", "weight_bytes", "test_acc_at_best"]
if not rows:
    fail(f"{path}: no runs (expected a results.csv written by taper report)")
missing = [k for k in need if k not in rows[0]]
if missing:
    fail(f"{path}: no column {', '.join(missing)} (expected a results.csv written by taper report)")


def size(r):  # the width asked for: a match_size, else the width itself
    return f"=size(w{r['match_size']})" if r["match_size"] else f"x{r['width']}"


varies = [k for k, f in (("model", lambda r: r["model"]), ("data", lambda r: r["data"]), ("size", size))
          if len({f(r) for r in rows}) > 1]
configs = {}
for r in rows:
    parts = ([r["model"]] if "model" in varies else []) + ([r["data"]] if "data" in varies else []) + \
            ([size(r)] if "size" in varies else []) + [f"w{r['wbits']}", f"a{r['abits']}"]
    try:
        c = configs.setdefault(" ".join(parts), {"acc": [], "bytes": int(r["weight_bytes"]),
                                                 "width": float(r["width"])})
        c["acc"].append(float(r["test_acc_at_best"]))
    except (TypeError, ValueError):
        fail(f"{path}: run {r.get('run')!r} has a weight_bytes, width or test_acc_at_best that is not a number")
if base not in configs:
    fail(f"no configuration {base!r} in {path} (there are: {', '.join(configs)})")


# Mean and sample standard deviation of accuracies (fractions), in %,
# computed as taper report computes them (apps/cmd_report.cpp, stat_of):
# a plain double sum, then 100x, so both print the same digits.
def average(v):
    return 100 * (sum(v) / len(v))


def spread(v):
    if len(v) < 2:
        return float("nan")
    m = sum(v) / len(v)
    return 100 * math.sqrt(sum((x - m) * (x - m) for x in v) / (len(v) - 1))


b = configs[base]
w = max(20, max(len(k) for k in configs))
print(f"{'configuration':{w}s} {'width':>6s} {'weight bytes':>12s} {'n':>2s} {'mean':>6s} {'std':>5s}  "
      f"{'- ' + base:>9s} {'SE':>5s} {'bytes':>6s}  seeds")
for label, c in sorted(configs.items(), key=lambda kv: kv[1]["bytes"]):
    v, m = c["acc"], average(c["acc"])
    diff = m - average(b["acc"])
    se = math.sqrt(spread(v) ** 2 / len(v) + spread(b["acc"]) ** 2 / len(b["acc"]))
    against = f"{diff:+9.2f} {se:5.2f}" if label != base else f"{'':9s} {'':5s}"
    print(f"{label:{w}s} {c['width']:6.3f} {c['bytes']:12,d} {len(v):2d} {m:6.2f} {spread(v):5.2f}  "
          f"{against} {c['bytes'] / b['bytes']:6.2f}  {', '.join(f'{100 * x:.2f}' for x in v)}")
