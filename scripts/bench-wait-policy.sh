#!/usr/bin/env bash
# Measures the OpenMP waiting policy (apps/wait_policy.h) on this machine:
# `taper bench resnet20 --wbits 2 --abits 2 --threads 2` alone and as two
# processes at once, in alternating rounds, under three policies:
#   gomp-default  libgomp's default spinning (TAPER_WAIT_POLICY=off opts out)
#   taper         what taper sets by itself (GOMP_SPINCOUNT=1000, apps/wait_policy.h)
#   passive       OMP_WAIT_POLICY=passive (threads sleep at once)
# or those named in POLICIES (also spin=N: GOMP_SPINCOUNT=N set by hand).
# Prints each run's training throughput, then the medians per policy.
#
#   scripts/bench-wait-policy.sh [ROUNDS] [STEPS]      (default 3 rounds, 12 steps)
#   TAPER_BIN=path/to/taper NICE=19 POLICIES="gomp-default taper spin=1000" scripts/bench-wait-policy.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-12}
taper=${TAPER_BIN:-build/taper}
nice_level=${NICE:-0}
bench=(bench resnet20 --wbits 2 --abits 2 --threads 2 --steps "$steps" --json)
read -r -a policies <<<"${POLICIES:-gomp-default taper passive}"

run() {  # policy -> one JSON line
  local env_args=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u TAPER_WAIT_POLICY)
  case "$1" in
    gomp-default) env_args+=(TAPER_WAIT_POLICY=off) ;;
    taper) ;;
    passive) env_args+=(OMP_WAIT_POLICY=passive) ;;
    spin=*) env_args+=(GOMP_SPINCOUNT="${1#spin=}") ;;
    *) echo "unknown policy $1" >&2; exit 2 ;;
  esac
  nice -n "$nice_level" "${env_args[@]}" "$taper" "${bench[@]}"
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
