#!/usr/bin/env bash
# The runs behind docs/results.md: vgg7-fmnist on Fashion-MNIST (fp32, w2a2,
# progressive:8 a2; 5 epochs each) and resnet20 on CIFAR-10 (fp32, w2a2,
# 4-2-1 a2; 10 epochs each — a shortened schedule: the paper trains 200
# epochs with lr x0.1 at 80/120/160, these scale the milestones to 40/60/80%).
# Everything else is the paper's protocol: SGD momentum 0.9, lr 0.1, weight
# decay 2e-4 (weights only), batch 128, 10% held out for validation, test
# accuracy at the best validation epoch; crop+flip for CIFAR-10.
#
#   scripts/results.sh [--threads N] [--only NAME]     (runs into runs/results/NAME)
#
# A run that was interrupted is resumed (taper train --resume); a finished one
# is skipped. At the end it prints the table for docs/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc)
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "results.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
scripts/get-data.sh fashion-mnist
scripts/get-data.sh cifar10
scripts/build.sh >/dev/null

# name | flags
runs=(
  "vgg7-fmnist-fp32|--model vgg7-fmnist --data fashion-mnist --wbits 32 --abits 32 --epochs 5"
  "vgg7-fmnist-w2a2|--model vgg7-fmnist --data fashion-mnist --wbits 2 --abits 2 --epochs 5"
  "vgg7-fmnist-progressive8-a2|--model vgg7-fmnist --data fashion-mnist --wbits progressive:8 --abits 2 --epochs 5"
  "resnet20-fp32|--model resnet20 --data cifar10 --wbits 32 --abits 32 --epochs 10"
  "resnet20-w2a2|--model resnet20 --data cifar10 --wbits 2 --abits 2 --epochs 10"
  "resnet20-4-2-1-a2|--model resnet20 --data cifar10 --wbits 4-2-1 --abits 2 --epochs 10"
)

for entry in "${runs[@]}"; do
  name=${entry%%|*}
  flags=${entry#*|}
  [[ -n "$only" && "$only" != "$name" ]] && continue
  out=runs/results/$name
  if [[ -f $out/result.json ]]; then
    echo "== $name: finished already ($out/result.json)"
  elif [[ -f $out/last.safetensors ]]; then
    echo "== $name: resuming"
    build/taper train --resume "$out"
  else
    echo "== $name: build/taper train $flags --seed 1 --threads $threads --out $out"
    build/taper train $flags --seed 1 --threads "$threads" --out "$out"
  fi
done

echo
echo "| run | wbits | abits | avg weight bits | weight bytes | best val epoch | val acc | test acc at best val | last-epoch test acc | wall time |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  f=runs/results/$name/result.json
  [[ -f $f ]] || continue
  python3 - "$name" "$f" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
bits = "%.2f" % r["avg_weight_bits"] if r["avg_weight_bits"] else "32 (no quantized layer)"
print("| %s | %s | %s | %s | %s | %d | %.2f%% | %.2f%% | %.2f%% | %.0f s |" % (
    name, r["wbits"], r["abits"], bits, "{:,}".format(r["weight_bytes"]), r["best_epoch"],
    100 * r["best_val_acc"], 100 * r["test_acc_at_best"], 100 * r["final_test_acc"], r["seconds"]))
PY
done
