#!/usr/bin/env bash
# The long jobs of issue 10, one after the other (only one long job at a
# time on the shared 2-core machine): the taper/PyTorch comparison
# (tests/torch/compare.sh, 12 runs), then the cheapest shipped grid
# (cifar10-resnet20-table2, --jobs 1 --threads 1). Both skip what is finished
# and resume what was interrupted, so this script can be stopped (kill its
# process group) and started again at any time:
#
#   nohup setsid experiments/background.sh > ~/.cache/taper/runs/background.log 2>&1 &
#
# It uses a copy of the taper binary (~/.cache/taper/runs/taper-bin) so that
# rebuilding the work tree does not change the program under running jobs.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=$HOME/.cache/taper/runs
mkdir -p "$runs/bin"
if [ ! -x "$runs/bin/taper" ]; then cp build/taper "$runs/bin/taper"; fi
echo "$(date -u) compare: $runs/compare"
tests/torch/compare.sh "$runs/bin"
echo "$(date -u) sweep: $runs/cifar10-resnet20-table2"
nice -n 19 "$runs/bin/taper" sweep experiments/cifar10-resnet20-table2.json --out "$runs/cifar10-resnet20-table2" \
  --jobs 1 --threads 1
echo "$(date -u) all done"
