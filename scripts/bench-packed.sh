#!/usr/bin/env bash
# Integer engine vs float inference (docs/benchmarks.md, "Packed models"):
# taper bench MODEL --wbits W --abits A [--packed], batch 128 and batch 1,
# 2 threads, ROUNDS alternating rounds (float, then packed, per config per
# round); prints every JSON line, then a table of medians and ratios.
# usage: scripts/bench-packed.sh [ROUNDS=3] [TAPER=build/taper]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
taper=${2:-build/taper}
configs=("vgg7-fmnist progressive:8 2" "vgg7-fmnist 2 2" "resnet20 4-2-1 2" "resnet20 2 2")
out=$(mktemp)
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    read -r model w a <<<"$c"
    for batch in 128 1; do
      if [ "$batch" = 128 ]; then steps=6; else steps=40; fi
      for packed in "" "--packed"; do
        line=$("$taper" bench "$model" --wbits "$w" --abits "$a" --batch "$batch" --threads 2 --steps "$steps" \
          --warmup 1 --no-train $packed --json --label "w${w}a${a}")
        echo "$line" | tee -a "$out"
      done
    done
  done
done
python3 - "$out" <<'PY'
import json, sys, statistics
rows = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    key = (j["model"], j["config"], j["batch"])
    rows.setdefault(key, {"float": [], "integer": []})[j.get("engine", "float")].append(j["infer_img_s"])
print("| model | policy | batch | float img/s | integer img/s | ratio | rounds |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for (m, c, b), v in rows.items():
    f, i = statistics.median(v["float"]), statistics.median(v["integer"])
    lat = f" ({1000 / f:.1f} ms vs {1000 / i:.1f} ms)" if b == 1 else ""
    print(f"| {m} | {c} | {b} | {f:.1f} | {i:.1f} | {i / f:.2f}x{lat} | {len(v['integer'])} |")
PY
rm -f "$out"
