#!/usr/bin/python3
"""Each configuration of a grid against one baseline configuration, from the
grid's results.csv (taper report): test accuracy at best val per seed, the
mean and sample standard deviation, weight bytes, and the difference of the
means next to its standard error (Welch: sqrt(s_a^2 / n_a + s_b^2 / n_b)).
A difference within about two standard errors is what the seeds alone give.

  /usr/bin/python3 experiments/contrasts.py results/GRID/results.csv BASELINE

BASELINE is a configuration label as printed, e.g. "w2 a2".
"""
import csv, math, statistics, sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    sys.exit(f"{sys.argv[1]}: no runs")
configs = {}
for r in rows:
    label = f"w{r['wbits']} a{r['abits']}"
    c = configs.setdefault(label, {"acc": [], "bytes": int(r["weight_bytes"]), "width": r["width"]})
    c["acc"].append(100 * float(r["test_acc_at_best"]))
base = sys.argv[2]
if base not in configs:
    sys.exit(f"no configuration {base!r} in {sys.argv[1]} (there are: {', '.join(configs)})")


def spread(v):
    return statistics.stdev(v) if len(v) > 1 else float("nan")


b = configs[base]
print(f"{'configuration':20s} {'width':>6s} {'weight bytes':>12s} {'n':>2s} {'mean':>6s} {'std':>5s}  "
      f"{'- ' + base:>9s} {'SE':>5s} {'bytes':>6s}  seeds")
for label, c in sorted(configs.items(), key=lambda kv: kv[1]["bytes"]):
    v, m = c["acc"], statistics.mean(c["acc"])
    diff = m - statistics.mean(b["acc"])
    se = math.sqrt(spread(v) ** 2 / len(v) + spread(b["acc"]) ** 2 / len(b["acc"]))
    against = f"{diff:+9.2f} {se:5.2f}" if label != base else f"{'':9s} {'':5s}"
    print(f"{label:20s} {float(c['width']):6.3f} {c['bytes']:12,d} {len(v):2d} {m:6.2f} {spread(v):5.2f}  "
          f"{against} {c['bytes'] / b['bytes']:6.2f}  {', '.join(f'{x:.2f}' for x in v)}")
