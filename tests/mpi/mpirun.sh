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
# One OpenMP thread per rank unless the test says otherwise; no binding, so
# an oversubscribed machine still runs every rank.
exec mpirun -np "$np" --oversubscribe --bind-to none "${extra[@]}" -x OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$@"
