#!/usr/bin/env bash
# Measures how taper's idle threads wait (engine/wait_policy.h) on this
# machine: `taper bench resnet20 --wbits 2 --abits 2 --threads 2` alone and
# as two processes at once, in alternating rounds, under the policies named
# in POLICIES (default "taper passive"):
#   taper         taper's default (poll, yield for 2 ms, then sleep)
#   passive       OMP_WAIT_POLICY=passive (threads sleep at once)
#   active        OMP_WAIT_POLICY=active (threads poll, never sleep)
#   spin=N        TAPER_SPIN_US=N (yield for N microseconds before sleeping)
#   gomp          an OpenMP build of taper (before commit "Own thread pool")
#                 with libgomp's default spinning: needs policy@BINARY
#   gomp=N        the same with GOMP_SPINCOUNT=N
# Any policy may name its binary as POLICY@PATH (default TAPER_BIN or
# build/taper), so builds can be compared in the same alternating rounds.
# Prints each run's training throughput, then the medians per policy.
#
#   scripts/bench-wait-policy.sh [ROUNDS] [STEPS]      (default 3 rounds, 12 steps)
#   NICE=19 POLICIES="taper gomp@/tmp/taper-openmp" scripts/bench-wait-policy.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-12}
taper=${TAPER_BIN:-build/taper}
nice_level=${NICE:-0}
bench=(bench resnet20 --wbits 2 --abits 2 --threads 2 --steps "$steps" --json)
read -r -a policies <<<"${POLICIES:-taper passive}"

run() {  # policy[@binary] -> one JSON line
  local policy=${1%%@*} bin=$taper
  [[ $1 == *@* ]] && bin=${1#*@}
  local env_args=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u TAPER_WAIT_POLICY -u TAPER_SPIN_US)
  case "$policy" in
    taper) ;;
    passive) env_args+=(OMP_WAIT_POLICY=passive) ;;
    active) env_args+=(OMP_WAIT_POLICY=active) ;;
    spin=*) env_args+=(TAPER_SPIN_US="${policy#spin=}") ;;
    gomp) env_args+=(TAPER_WAIT_POLICY=off) ;;
    gomp=*) env_args+=(GOMP_SPINCOUNT="${policy#gomp=}") ;;
    *) echo "unknown policy $policy" >&2; exit 2 ;;
  esac
  nice -n "$nice_level" "${env_args[@]}" "$bin" "${bench[@]}"
}
train() { sed -E 's/.*"train_img_s": ?([0-9.]+).*/\1/'; }

declare -A solo pair
for ((r = 1; r <= rounds; ++r)); do
  for p in "${policies[@]}"; do
    s=$(run "$p" | train)
    a=$(mktemp) b=$(mktemp)
    run "$p" >"$a" & pa=$!
    run "$p" >"$b" & pb=$!
    wait $pa $pb
    x=$(train <"$a") y=$(train <"$b")
    rm -f "$a" "$b"
    echo "round $r  $p  solo $s img/s  pair $x + $y img/s"
    solo[$p]+="$s "
    pair[$p]+="$x $y "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo "medians over $rounds rounds (train img/s; pair = per process):"
for p in "${policies[@]}"; do
  ms=$(median <<<"${solo[$p]}")
  mp=$(median <<<"${pair[$p]}")
  echo "  $p: solo $ms, pair $mp per process ($(awk -v a="$mp" -v b="$ms" 'BEGIN{printf "%.0f", 100*a/b}')% of solo)"
done
