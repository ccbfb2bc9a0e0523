#!/usr/bin/env bash
# Copies the small outputs of finished background runs into results/ and
# rewrites the grids' reports, so that results survive the machine:
#   - every finished cell of every grid under RUNS (config.json, result.json,
#     metrics.jsonl; never checkpoints) into results/<grid>/<cell>/, then
#     `taper report results/<grid>` (results.csv, summary.md, the plots);
#   - every finished run of the taper/PyTorch comparison (RUNS/compare) into
#     results/compare/<run>/, then tests/torch/compare.sh's table.
# Unfinished cells (no result.json) are left out. Prints what it copied;
# the READMEs in results/ say how complete each folder is.
#
#   experiments/collect.sh [RUNS]     (default ~/.cache/taper/runs; taper from build/)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-$HOME/.cache/taper/runs}
taper=build/taper
[ -x "$taper" ] || { echo "no $taper: build first (scripts/build.sh)" >&2; exit 2; }
[ -d "$runs" ] || { echo "no runs folder $runs" >&2; exit 2; }

copy_run() {  # SRC DST: the small files of one finished run
  mkdir -p "$2"
  for f in config.json result.json metrics.jsonl; do
    if [ -f "$1/$f" ]; then cp "$1/$f" "$2/$f"; fi
  done
}

for grid in experiments/*.json; do
  name=$(basename "$grid" .json)
  [ -d "$runs/$name" ] || continue
  n=0
  for cell in "$runs/$name"/*/; do
    cell=${cell%/}
    [ -f "$cell/result.json" ] || continue
    copy_run "$cell" "results/$name/$(basename "$cell")"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || continue
  echo "$name: $n finished runs"
  "$taper" report "results/$name" > /dev/null
done

if [ -d "$runs/compare" ]; then
  n=0
  for run in "$runs/compare"/*/; do
    run=${run%/}
    [ -f "$run/result.json" ] || continue
    copy_run "$run" "results/compare/$(basename "$run")"
    n=$((n + 1))
  done
  echo "compare: $n finished runs"
  /usr/bin/python3 tests/torch/compare_table.py results/compare > results/compare/summary.txt
fi
