#!/usr/bin/env bash
# The long jobs of issue 10, in two lanes of one job each (one thread per
# job, `nice -n 19`, on this 2-core machine):
#   lane 1: the ResNet-20 grids (cifar10-resnet20-table2, then -isosize)
#   lane 2: the taper/PyTorch comparison (tests/torch/compare.sh, 12 runs),
#           then the VGG-7 Table II grid (fmnist-vgg7-table2)
# and last the VGG-7 equal-size grid (fmnist-vgg7-isosize): with one job as
# soon as either lane is done, then with two once both are (its one-job
# sweep is stopped cleanly first: its run checkpoints after the step in
# progress, and the two-job sweep resumes it from there, byte for byte).
# Every step skips what is finished and resumes what was interrupted, so
# this script can be stopped (kill its process group: the group id is in
# ~/.cache/taper/runs/background.pgid) and started again at any time:
#
#   nohup setsid experiments/background.sh > ~/.cache/taper/runs/background.log 2>&1 < /dev/null &
#
# experiments/quiet.sh CMD pauses all of it while CMD runs (benchmarks).
# It uses a copy of the taper binary (~/.cache/taper/runs/bin/taper) so that
# rebuilding the work tree does not change the program under running jobs.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=$HOME/.cache/taper/runs
mkdir -p "$runs/bin"
if [ ! -x "$runs/bin/taper" ]; then cp build/taper "$runs/bin/taper"; fi
ps -o pgid= $$ | tr -d ' ' > "$runs/background.pgid"
# `nice` alone does not make these jobs yield to interactive work: with
# autogroup scheduling (Linux's default) every session (setsid) is a group
# that gets an equal share of the CPU whatever its processes' nice values.
# Lowering the group's own nice does.
echo 19 > /proc/self/autogroup 2>/dev/null || true

sweep() {  # grid name [jobs]
  echo "$(date -u) sweep: $runs/$1"
  nice -n 19 "$runs/bin/taper" sweep "experiments/$1.json" --out "$runs/$1" --jobs "${2:-1}" --threads 1
  local rc=$?
  echo "$(date -u) sweep finished: $runs/$1 (exit $rc)"
}

( sweep cifar10-resnet20-table2; sweep cifar10-resnet20-isosize ) &
lane1=$!
(
  echo "$(date -u) compare: $runs/compare"
  tests/torch/compare.sh "$runs/bin"
  rc=$?
  echo "$(date -u) compare finished (exit $rc)"
  sweep fmnist-vgg7-table2
) &
lane2=$!

# stop_sweep PID: ends the `taper sweep` that the subshell PID runs,
# without losing work. The sweep is paused (so that it starts no new run),
# its runs get SIGTERM (each stops after the step in progress and writes a
# checkpoint of that point, apps/interrupt.h), and once they have exited
# the sweep is killed. Holds quiet.sh's lock, so a benchmark's SIGCONT
# cannot wake the sweep half way. Nothing to do if the sweep has ended.
stop_sweep() {
  (
    flock 9
    s=$(pgrep -P "$1" -f "taper sweep" | head -1)
    [ -n "$s" ] || exit 0
    kill -STOP "$s"
    kids=$(pgrep -P "$s")
    if [ -n "$kids" ]; then kill -TERM $kids; fi
    for k in $kids; do  # exited runs stay zombies of the paused sweep
      while [ -e "/proc/$k" ] && [ "$(ps -o stat= -p "$k" | cut -c1)" != Z ]; do sleep 1; done
    done
    kill -KILL "$s"
    echo "$(date -u) stopped the sweep (its runs checkpointed after their step in progress)"
  ) 9>"$runs/quiet.lock"
}

wait -n $lane1 $lane2  # one lane is free: the last grid starts there
sweep fmnist-vgg7-isosize 1 &
last=$!
wait $lane1 $lane2     # both are free: the last grid goes on with two jobs
stop_sweep $last
wait $last
sweep fmnist-vgg7-isosize 2
echo "$(date -u) all done"
