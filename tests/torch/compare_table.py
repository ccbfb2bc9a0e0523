#!/usr/bin/python3
"""The table of tests/torch/compare.sh's runs: test accuracy after the last
epoch per run, then mean and sample standard deviation per model and side.

  /usr/bin/python3 tests/torch/compare_table.py DIR    (DIR: the runs' folder)
"""
import json, os, statistics, sys
out = sys.argv[1]
rows = {}
for name in sorted(os.listdir(out)):
    p = os.path.join(out, name, "result.json")
    if not os.path.isfile(p):
        continue
    r = json.load(open(p))
    side, rest = name.split("-", 1)
    model = rest.rsplit("-s", 1)[0]
    acc = 100 * r["final_test_acc"]
    rows.setdefault((model, side), []).append(acc)
    print(f"{name:28s} test after epoch {r['epochs']}: {acc:.2f}%  ({r['seconds']:.0f} s)")
print()
for (model, side), v in sorted(rows.items()):
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    print(f"{model:16s} {side:6s} n={len(v)}  mean {statistics.mean(v):.2f}%  std {sd:.2f}  ({', '.join(f'{x:.2f}' for x in v)})")
print()
# taper against PyTorch per model: the difference of the means next to its standard error
# (Welch: sqrt(s_taper^2 / n_taper + s_torch^2 / n_torch)); a difference within about two
# standard errors is what the seeds alone would give.
for model in sorted({m for m, _ in rows}):
    t, p = rows.get((model, "taper"), []), rows.get((model, "torch"), [])
    if len(t) < 2 or len(p) < 2:
        print(f"{model:16s} taper - torch: needs 2 seeds per side (have {len(t)} and {len(p)})")
        continue
    d = statistics.mean(t) - statistics.mean(p)
    se = (statistics.variance(t) / len(t) + statistics.variance(p) / len(p)) ** 0.5
    print(f"{model:16s} taper - torch: {d:+.2f} points, standard error {se:.2f} ({d / se:+.1f} standard errors)")
