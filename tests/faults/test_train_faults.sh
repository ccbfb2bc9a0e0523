#!/usr/bin/env bash
# Training runs that survive signals, kills and full disks (CTest):
#  1. SIGINT mid-epoch: exit 130, a checkpoint at that step, --resume finishes
#     with the same weights, byte for byte, as an uninterrupted run; a second
#     SIGINT quits at once;
#  2. SIGKILL at 20 random moments (startup, steps, evaluation, checkpoint
#     writes), --resume after each: the finished run equals the uninterrupted one;
#  3. a checkpoint that cannot be written (file-size limit, read-only folder):
#     a clear error, exit 2, the previous checkpoint intact and resumable;
#  4. a damaged last.safetensors: --resume says so and names best.safetensors.
#   tests/faults/test_train_faults.sh TAPER_BIN
set -euo pipefail
taper=$1
data=${TAPER_DATA:-$HOME/.cache/taper}/fashion-mnist
if [[ ! -d "$data" ]]; then
  echo "SKIPPED: Fashion-MNIST is not installed in $data (scripts/get-data.sh fashion-mnist; scripts/test.sh does it)"
  exit 77
fi
same="$(cd "$(dirname "$0")/.." && pwd)/mpi/same_tensors.py"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
args=(--model lenet5 --data fashion-mnist --wbits 2 --abits 2 --seed 7 --threads 1)
small=(--limit 1200)
fail() { echo "FAILED: $*" >&2; exit 1; }
# Waits until the command succeeds, polling every 20 ms, for at most 10
# minutes (a sanitized build on a loaded machine can take a minute to reach
# a step that takes a second in the Release build); false after that.
wait_for() {
  local deadline=$((SECONDS + 600))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.02
  done
}

"$taper" train "${args[@]}" "${small[@]}" --epochs 6 --out "$work/ref" > /dev/null 2>&1
echo "reference run done"

echo "== 1. SIGINT"
"$taper" train "${args[@]}" --epochs 6 --limit 6000 --out "$work/int" > "$work/int.log" 2>&1 &
job=$!
wait_for grep -q "batch" "$work/int.log" || fail "no training step within 10 minutes"
kill -INT "$job"
code=0; wait "$job" || code=$?
[[ $code -eq 130 ]] || { cat "$work/int.log"; fail "exit code $code after SIGINT (expected 130)"; }
grep -q "Resume with" "$work/int.log" || fail "no resume hint after SIGINT"
[[ -f "$work/int/last.safetensors" ]] || fail "no checkpoint after SIGINT"
"$taper" train --resume "$work/int" > /dev/null 2>&1
"$taper" train "${args[@]}" --epochs 6 --limit 6000 --out "$work/int_ref" > /dev/null 2>&1
python3 "$same" "$work/int_ref/last.safetensors" "$work/int/last.safetensors" || fail "SIGINT + resume differs"
# Twice: the second SIGINT ends the process at once.
"$taper" train "${args[@]}" --epochs 6 --limit 6000 --out "$work/int2" > "$work/int2.log" 2>&1 &
job=$!
wait_for grep -q "batch" "$work/int2.log" || fail "no training step within 10 minutes"
kill -INT "$job"; sleep 0.05; kill -INT "$job" 2>/dev/null || true
code=0; wait "$job" || code=$?
[[ $code -eq 130 ]] || fail "exit code $code after two SIGINTs (expected 130)"
echo "SIGINT: exit 130, resume byte-identical; second SIGINT quits"

echo "== 2. SIGKILL at 20 random moments"
out="$work/kill"
kills=0
RANDOM=12345
while [[ $kills -lt 20 ]]; do
  if [[ -f "$out/last.safetensors" ]]; then
    "$taper" train --resume "$out" > /dev/null 2>&1 &
  else
    "$taper" train "${args[@]}" "${small[@]}" --epochs 6 --out "$out" > /dev/null 2>&1 &
  fi
  job=$!
  sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
  if kill -0 "$job" 2>/dev/null; then
    kill -9 "$job" 2>/dev/null || true
    kills=$((kills + 1))
  fi
  wait "$job" 2>/dev/null || true
  [[ -f "$out/result.json" ]] && break
done
while [[ ! -f "$out/result.json" ]]; do
  if [[ -f "$out/last.safetensors" ]]; then "$taper" train --resume "$out" > /dev/null
  else rm -rf "$out"; "$taper" train "${args[@]}" "${small[@]}" --epochs 6 --out "$out" > /dev/null; fi
done
python3 "$same" "$work/ref/last.safetensors" "$out/last.safetensors" || fail "killed run differs"
diff <(cut -d, -f1-7 "$work/ref/metrics.jsonl") <(cut -d, -f1-7 "$out/metrics.jsonl") > /dev/null ||
  fail "killed run's metrics differ"
ls "$out" | grep -q '\.tmp$' && fail "a temporary file was left behind"
echo "$kills kills, finished run byte-identical"

echo "== 3. a checkpoint that cannot be written"
# A 3-epoch run killed after its first checkpoint, then resumed under a
# 64 KiB file-size limit: the next checkpoint (about 0.5 MB) cannot be written.
"$taper" train "${args[@]}" "${small[@]}" --epochs 3 --out "$work/full" > /dev/null 2>&1 &
job=$!
first_checkpoint() { [[ -s "$work/full/metrics.jsonl" && -f "$work/full/last.safetensors" ]]; }
wait_for first_checkpoint || fail "no first checkpoint within 10 minutes"
kill -9 "$job" 2>/dev/null || true; wait "$job" 2>/dev/null || true
[[ -f "$work/full/last.safetensors" ]] || fail "no first checkpoint"
cp "$work/full/last.safetensors" "$work/before.safetensors"
code=0
(ulimit -f 64; exec "$taper" train --resume "$work/full") > "$work/full.log" 2>&1 || code=$?
[[ $code -eq 2 ]] || { cat "$work/full.log"; fail "exit code $code when the checkpoint cannot be written"; }
grep -q "cannot write" "$work/full.log" || fail "no clear message: $(tail -n 1 "$work/full.log")"
cmp "$work/before.safetensors" "$work/full/last.safetensors" || fail "the previous checkpoint changed"
ls "$work/full" | grep -q '\.tmp$' && fail "a temporary file was left behind"
echo "file-size limit: $(grep -o 'cannot write.*' "$work/full.log" | head -c 160)"
# A read-only run folder (skipped as root, which ignores permissions).
if [[ $(id -u) -ne 0 ]]; then
  chmod a-w "$work/full"
  code=0; "$taper" train --resume "$work/full" > "$work/ro.log" 2>&1 || code=$?
  chmod u+w "$work/full"
  [[ $code -eq 2 ]] || fail "exit code $code in a read-only folder"
  cmp "$work/before.safetensors" "$work/full/last.safetensors" || fail "the previous checkpoint changed"
else
  echo "read-only folder case not run: root ignores write permissions (the file-size case covers the write error)"
fi
"$taper" train --resume "$work/full" > /dev/null 2>&1 || fail "resume after the failed write"

echo "== 4. a damaged last.safetensors"
cp -r "$work/ref" "$work/dam"
head -c 3000 "$work/ref/last.safetensors" > "$work/dam/last.safetensors"
code=0; "$taper" train --resume "$work/dam" > "$work/dam.log" 2>&1 || code=$?
[[ $code -eq 2 ]] || fail "exit code $code for a damaged checkpoint"
grep -q "is damaged" "$work/dam.log" && grep -q "best.safetensors is intact" "$work/dam.log" ||
  fail "message does not name the intact best.safetensors: $(cat "$work/dam.log")"
echo "1 passed, 0 failed"
