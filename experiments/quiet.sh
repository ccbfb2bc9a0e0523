#!/usr/bin/env bash
# Runs CMD with the background experiments (experiments/background.sh)
# paused, for benchmarks: SIGSTOP to their process group, CMD, SIGCONT
# (also when CMD fails or this script is interrupted). Concurrent quiet.sh
# calls queue on a lock, so one never resumes the jobs under another's
# benchmark. Without a running background group it just runs CMD.
#
#   experiments/quiet.sh scripts/bench-packed.sh 3
set -uo pipefail
runs=$HOME/.cache/taper/runs
mkdir -p "$runs"
exec 9>"$runs/quiet.lock"
flock 9
pgid=$(cat "$runs/background.pgid" 2>/dev/null || true)
if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
  trap 'kill -CONT -- "-$pgid" 2>/dev/null' EXIT
  kill -STOP -- "-$pgid"
  sleep 2   # let the stopped jobs' caches and the scheduler settle
else
  pgid=
fi
"$@"
