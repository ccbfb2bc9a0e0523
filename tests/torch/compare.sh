#!/usr/bin/env bash
# taper against PyTorch on one recipe: resnet20 and resnet20-preact at w2a2,
# CIFAR-10, 5 epochs, cosine from lr 0.1, crop+flip, no validation split,
# seeds 1..3, both sides at one thread under `nice -n 19` — 12 runs, one at a
# time. The recipe and what each side does are in train_compare.py's
# docstring. Resumable: a run with result.json is skipped, an interrupted
# taper run is resumed from its last checkpoint (an interrupted PyTorch run
# starts again). At the end it prints the test accuracy after the last epoch,
# per run and as mean +- std per model and side.
#
#   tests/torch/compare.sh [BUILD_DIR]        (default build; runs under ~/.cache/taper/runs/compare/)
# Environment: TAPER_COMPARE_OUT (the runs' folder), TAPER_COMPARE_EPOCHS,
# TAPER_COMPARE_LIMIT (quick checks only).
set -euo pipefail
cd "$(dirname "$0")/../.."
taper=${1:-build}/taper
out=${TAPER_COMPARE_OUT:-$HOME/.cache/taper/runs/compare}
epochs=${TAPER_COMPARE_EPOCHS:-5}
limit=${TAPER_COMPARE_LIMIT:-0}   # first N training images (quick checks of this script); 0: all
mkdir -p "$out"
[ -x "$taper" ] || { echo "no $taper: build first (scripts/build.sh)" >&2; exit 2; }
[ -f "$HOME/.cache/taper/cifar10/test_batch.png" ] || { echo "CIFAR-10 missing: scripts/get-data.sh" >&2; exit 2; }

for seed in 1 2 3; do
  for model in resnet20-preact resnet20; do
    run=$out/taper-$model-s$seed
    if [ -f "$run/result.json" ]; then
      echo "done: $run"
    elif [ -f "$run/last.safetensors" ]; then
      echo "resume: $run"
      nice -n 19 "$taper" train --resume "$run" >>"$run/train.log" 2>&1
    else
      echo "start: $run"
      mkdir -p "$run"
      nice -n 19 "$taper" train --model "$model" --data cifar10 --wbits 2 --abits 2 --epochs "$epochs" \
        --schedule cosine --lr 0.1 --val-split 0 --augment crop+flip --seed "$seed" --threads 1 \
        --limit "$limit" --out "$run" >>"$run/train.log" 2>&1
    fi
    run=$out/torch-$model-s$seed
    if [ -f "$run/result.json" ]; then
      echo "done: $run"
    else
      echo "start: $run"
      mkdir -p "$run"
      nice -n 19 /usr/bin/python3 tests/torch/train_compare.py --model "$model" --wbits 2 --abits 2 \
        --epochs "$epochs" --seed "$seed" --threads 1 --limit "$limit" --out "$run" >>"$run/train.log" 2>&1
    fi
  done
done

/usr/bin/python3 tests/torch/compare_table.py "$out"
