#!/usr/bin/env bash
# Data-parallel training under mpirun (CTest runs this when MPI is built in):
#  1. two `mpirun -np 2` runs with the same seed write byte-identical checkpoints;
#  2. -np 2 computes what one process computes: per-step losses and final
#     weights agree up to float summation order (at a small learning rate,
#     where the dynamics do not amplify rounding differences; see
#     docs/distributed.md for the measurement at lr 0.1);
#  3. SIGKILL of one rank mid-epoch ends the job with an error (no hang), and
#     --resume under mpirun finishes with the same weights, byte for byte, as
#     an uninterrupted -np 2 run;
#  4. `mpirun -np 2 taper sweep` spreads a grid's runs over the ranks (each
#     run a single process) and reports what a one-process sweep reports.
#   tests/mpi/test_mpi_train.sh TAPER_BIN
set -euo pipefail
taper=$1
data=${TAPER_DATA:-$HOME/.cache/taper}/fashion-mnist
if [[ ! -d "$data" ]]; then
  echo "SKIPPED: Fashion-MNIST is not installed in $data (scripts/get-data.sh fashion-mnist; scripts/test.sh does it)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
mpirun_sh="$here/mpirun.sh"
same="$here/same_tensors.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--model lenet5 --data fashion-mnist --wbits 32 --abits 32 --seed 5 --threads 1)

fail() { echo "FAILED: $*" >&2; exit 1; }

echo "== 1. two -np 2 runs, same seed: byte-identical checkpoints"
"$mpirun_sh" 2 "$taper" train "${common[@]}" --epochs 1 --limit 1200 --out "$work/a" > /dev/null
mv "$work/a" "$work/a1"
"$mpirun_sh" 2 "$taper" train "${common[@]}" --epochs 1 --limit 1200 --out "$work/a" > /dev/null
cmp "$work/a1/last.safetensors" "$work/a/last.safetensors" || fail "two -np 2 runs differ"
echo "identical"

echo "== 2. -np 2 against one process (lr 0.001)"
TAPER_STEP_LOG="$work/one.jsonl" "$taper" train "${common[@]}" --lr 0.001 --epochs 1 --limit 1200 \
  --out "$work/one" > /dev/null
TAPER_STEP_LOG="$work/two.jsonl" "$mpirun_sh" 2 "$taper" train "${common[@]}" --lr 0.001 --epochs 1 \
  --limit 1200 --out "$work/two" > /dev/null
python3 - "$work/one.jsonl" "$work/two.jsonl" <<'PY' || fail "per-step losses differ"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and len(a) > 5, (len(a), len(b))
assert [x["images"] for x in a] == [x["images"] for x in b], "different batches"
worst = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(a, b))
print("%d steps, largest relative loss difference %.3g" % (len(a), worst))
sys.exit(0 if worst < 1e-5 else 1)
PY
python3 "$same" "$work/one/last.safetensors" "$work/two/last.safetensors" --rel 1e-4 || fail "weights differ"

echo "== 3. SIGKILL of one rank mid-epoch, then --resume"
"$mpirun_sh" 2 "$taper" train "${common[@]}" --epochs 3 --limit 6000 --out "$work/full" > /dev/null
"$mpirun_sh" 2 "$taper" train "${common[@]}" --epochs 3 --limit 6000 --out "$work/killed" \
  > "$work/killed.log" 2>&1 &
job=$!
# Wait for the first checkpoint, then kill rank 1 during the second epoch.
for _ in $(seq 1 600); do
  [[ -s "$work/killed/metrics.jsonl" && -f "$work/killed/last.safetensors" ]] && break
  sleep 0.1
done
[[ -f "$work/killed/last.safetensors" ]] || fail "the run wrote no checkpoint"
sleep 0.5
victim=$(pgrep -f -- "--out $work/killed" | while read -r p; do
  [[ $(cat /proc/"$p"/comm 2>/dev/null) == taper ]] && echo "$p"; done | tail -n 1)
[[ -n "$victim" ]] || fail "no rank process found"
kill -9 "$victim"
# mpirun must end the job by itself; a hang fails here after 60 s.
for _ in $(seq 1 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then kill -9 "$job"; fail "the job hung after one rank was killed"; fi
if wait "$job"; then fail "the job exited 0 after one rank was killed"; fi
echo "the job ended with an error after one rank was killed (mpirun: $(grep -m1 -o 'exited on signal 9\|killed\|terminated' "$work/killed.log" || echo 'non-zero exit'))"
"$mpirun_sh" 2 "$taper" train --resume "$work/killed" > /dev/null
python3 "$same" "$work/full/last.safetensors" "$work/killed/last.safetensors" || fail "resumed run differs"
echo "== 4. a sweep spread over 2 ranks equals a sweep in one process"
cat > "$work/grid.json" <<'JSON'
{
  "name": "tiny",
  "models": ["lenet5"],
  "data": ["fashion-mnist"],
  "policies": [{"wbits": "32", "abits": 32}, {"wbits": "2", "abits": 2}, {"wbits": "1", "abits": 2, "match_size": "2"}],
  "seeds": [1],
  "recipe": {"epochs": 1, "limit": 512, "batch": 64, "schedule": "cosine", "val_split": 0.25}
}
JSON
"$taper" sweep "$work/grid.json" --out "$work/sweep1" --threads 1 > "$work/sweep1.log" 2>&1 ||
  { cat "$work/sweep1.log"; fail "one-process sweep"; }
"$mpirun_sh" 2 "$taper" sweep "$work/grid.json" --out "$work/sweep2" --threads 1 > "$work/sweep2.log" 2>&1 ||
  { cat "$work/sweep2.log"; fail "mpirun sweep"; }
grep -q "spread over 2 ranks" "$work/sweep2.log" || fail "the sweep did not spread over the ranks"
grep -q "\[rank 1\] done" "$work/sweep2.log" || fail "rank 1 ran no cell"
# Same results apart from the wall-time column and the folder names.
strip() { python3 -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    print(','.join(v for k, v in sorted(r.items()) if k not in ('seconds', 'dir', 'run')))" "$1"; }
diff <(strip "$work/sweep1/results.csv") <(strip "$work/sweep2/results.csv") || fail "results.csv differ"
echo "3 cells over 2 ranks, results.csv equal to the one-process sweep"
echo "1 passed, 0 failed"
