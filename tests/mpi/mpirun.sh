#!/usr/bin/env bash
# Runs a command under mpirun for CTest: mpirun -np N --oversubscribe
# (more ranks than cores is fine for tests), plus --allow-run-as-root only
# when running as root (CI and containers), which Open MPI otherwise refuses.
#   tests/mpi/mpirun.sh N COMMAND [ARGS...]
set -euo pipefail
np=$1
shift
extra=()
[[ $(id -u) -eq 0 ]] && extra+=(--allow-run-as-root)
# One thread per rank unless the test says otherwise; no binding, so
# an oversubscribed machine still runs every rank.
# Under the sanitized suite (scripts/test.sh --sanitize), LeakSanitizer
# cannot attribute Open MPI's allocations from MPI_Init (its plugins are
# unloaded at MPI_Finalize, so their frames have no names to suppress): leak
# checking is off in the ranks; ASan's memory checks and UBSan stay on, and
# taper's own code paths keep their leak checks in the single-process tests.
if [[ -n "${ASAN_OPTIONS:-}" ]]; then
  extra+=(-x ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0")
  [[ -n "${UBSAN_OPTIONS:-}" ]] && extra+=(-x UBSAN_OPTIONS="$UBSAN_OPTIONS")
fi
# A private TMPDIR for Open MPI's session directory: two mpiruns started at
# the same moment (ctest -j) race to create the shared /tmp/ompi.<host>.<uid>
# and one fails with "File exists".
session=$(mktemp -d)
trap 'rm -rf "$session"' EXIT
TMPDIR=$session mpirun -np "$np" --oversubscribe --bind-to none "${extra[@]}" \
  -x OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$@"
