#!/usr/bin/env bash
# Runs CMD with the background experiments (experiments/background.sh)
# paused, for benchmarks: SIGSTOP to their process groups, CMD, SIGCONT
# (also when CMD fails or this script is interrupted). Concurrent quiet.sh
# calls queue on a lock, so one never resumes the jobs under another's
# benchmark. Without a running background group it just runs CMD.
#
#   experiments/quiet.sh scripts/bench-packed.sh 3
#
# The process groups are the lines of ~/.cache/taper/runs/background.pgid
# (background.sh writes its own; another long job started with setsid can
# append its group id to be paused too).
set -uo pipefail
runs=$HOME/.cache/taper/runs
mkdir -p "$runs"
exec 9>"$runs/quiet.lock"
flock 9
groups=()
while read -r pgid; do
  [[ "$pgid" =~ ^[0-9]+$ ]] && kill -0 -- "-$pgid" 2>/dev/null && groups+=("$pgid")
done < <(cat "$runs/background.pgid" 2>/dev/null)
resume() { for g in "${groups[@]}"; do kill -CONT -- "-$g" 2>/dev/null; done; }
if [ ${#groups[@]} -gt 0 ]; then
  trap resume EXIT
  for g in "${groups[@]}"; do kill -STOP -- "-$g"; done
  sleep 2   # let the stopped jobs' caches and the scheduler settle
fi
"$@"
