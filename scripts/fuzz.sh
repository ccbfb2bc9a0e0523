#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang++ and
# -fsanitize=fuzzer,address,undefined in build-fuzz/, then runs each target
# in turn for SECONDS (default 60) at the lowest CPU priority, one thread.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 idx safetensors
#
# Each run starts from the seeds and regression inputs in
# tests/fuzz/corpus/<target>/ and the inputs it grew before
# (build-fuzz/corpus/<target>/, new inputs go there). Logs go to
# build-fuzz/logs/<target>.log, a crashing input to
# build-fuzz/artifacts/<target>/crash-*; copy it into
# tests/fuzz/corpus/<target>/ once fixed, as a regression case (CTest
# replays that folder). A summary line per target (executions, coverage)
# ends the output; the exit code is non-zero if any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
scripts/install-deps.sh clang libclang-rt-14-dev

build_dir=${TAPER_FUZZ_BUILD_DIR:-build-fuzz}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPER_FUZZ=ON -DTAPER_BUILD_TESTS=OFF -DTAPER_NATIVE="${TAPER_NATIVE:-ON}" "${launcher[@]}" >/dev/null

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/fuzz_*.cpp; do
    t=$(basename "$f" .cpp)
    targets+=("${t#fuzz_}")
  done
fi
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

export OMP_NUM_THREADS=1
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/sanitize/ubsan.supp"
mkdir -p "$build_dir/logs"
summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "$build_dir/corpus/$t" "$build_dir/artifacts/$t"
  log="$build_dir/logs/$t.log"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  rc=0
  # -rss_limit_mb: a reader that allocates gigabytes for a small input is a
  # finding too (limits before allocation, docs/reliability.md).
  nice -n 19 "$build_dir/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t/" \
    "$build_dir/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | awk '{print $2}')
  corp=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' <<<"$last" | awk '{print $2}')
  found=$(ls "$build_dir/artifacts/$t" | wc -l)
  line="$t: ${seconds}s, ${execs:-?} executions, cov ${cov:-?} edges, ft ${ft:-?} features, corpus ${corp:-?}, exit $rc, artifacts $found"
  echo "fuzz: $line"
  summary+=("$line")
  if [[ $rc -ne 0 || $found -ne 0 ]]; then status=1; fi
done
echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
exit $status
