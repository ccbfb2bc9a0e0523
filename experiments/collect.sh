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

collect() {  # FROM TO: every finished run folder under FROM into TO; prints how many
  local n=0 run
  for run in "$1"/*/; do
    run=${run%/}
    [ -f "$run/result.json" ] || continue
    mkdir -p "$2/$(basename "$run")"
    for f in config.json result.json metrics.jsonl; do
      if [ -f "$run/$f" ]; then cp "$run/$f" "$2/$(basename "$run")/$f"; fi
    done
    n=$((n + 1))
  done
  echo "$n"
}

for grid in experiments/*.json; do
  name=$(basename "$grid" .json)
  [ -d "$runs/$name" ] || continue
  n=$(collect "$runs/$name" "results/$name")
  [ "$n" -gt 0 ] || continue
  echo "$name: $n finished runs"
  "$taper" report "results/$name" > /dev/null
done

if [ -d "$runs/compare" ]; then
  echo "compare: $(collect "$runs/compare" results/compare) finished runs"
  /usr/bin/python3 tests/torch/compare_table.py results/compare > results/compare/summary.txt
fi
