#!/usr/bin/env bash
# Measures taper against its PyTorch peer script (torch_anchor.py, kept outside
# this repository; where this script looks for it is below) on
# the same networks, bit configurations, batch, step counts and threads, and
# prints the medians over several rounds with taper/torch ratios.
#
#   scripts/bench-vs-torch.sh [--rounds N] [--threads N] [--steps N] [--models "a b"] [--configs "x y"]
#
#   --rounds N      rounds of every (model, config) pair on both sides (default
#                   $ROUNDS, else 3); the table shows the median of the rounds
#   --threads N     threads for both programs (default $THREADS, else 2)
#   --steps N       timed steps per measurement on both sides (default $STEPS,
#                   else 12, the anchor's default)
#   --models "a b"  a subset of: vgg7-fmnist resnet20 (default both)
#   --configs "x y" a subset of: fp32 w2a2 progressive (default all three)
#
# Configurations (taper's flags; torch_anchor.py has the same bits built in):
#   fp32         --wbits 32 --abits 32
#   w2a2         --wbits 2 --abits 2
#   progressive  vgg7-fmnist --wbits 8-4-2-1-1-1-1 --abits 2,
#                resnet20    --wbits 4-2-1 --abits 2
#
# Every measurement is its own process (one model, one config), so each peak
# RSS is that run's alone. Within a round the two programs alternate, and the
# one that goes first alternates between rounds, so a change in the machine's
# load hits both sides alike. The raw JSON lines, each with the program and
# round added, go to build/bench-vs-torch.jsonl.
#
# Installs python3-torch and libopenblas0-pthread when missing (apt-get, root
# or sudo) and builds taper (scripts/build.sh). The anchor is
# ../shared/bench/torch_anchor.py relative to the repository root unless
# $TAPER_TORCH_ANCHOR names another file. Speed is noisy on a shared machine:
# read the load average printed with the table.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "bench-vs-torch: error: $*" >&2; exit 2; }
say() { echo "bench-vs-torch: $*" >&2; }

usage() {  # EXIT_CODE — the help text, to stdout for --help and stderr on misuse
  if [[ $1 -eq 0 ]]; then
    sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//'
  else
    sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  fi
  exit "$1"
}

rounds=${ROUNDS:-3}
threads=${THREADS:-2}
models="vgg7-fmnist resnet20"
configs="fp32 w2a2 progressive"
batch=128    # torch_anchor.py's default
steps=${STEPS:-12}  # torch_anchor.py's default; more steps average over the machine's bursts
warmup=2     # torch_anchor.py's fixed warm-up

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) [[ $# -ge 2 ]] || die "--rounds needs a value"; rounds=$2; shift 2 ;;
    --threads) [[ $# -ge 2 ]] || die "--threads needs a value"; threads=$2; shift 2 ;;
    --steps) [[ $# -ge 2 ]] || die "--steps needs a value"; steps=$2; shift 2 ;;
    --models) [[ $# -ge 2 ]] || die "--models needs a value"; models=$2; shift 2 ;;
    --configs) [[ $# -ge 2 ]] || die "--configs needs a value"; configs=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "bench-vs-torch: unknown argument '$1'" >&2; usage 2 ;;
  esac
done

[[ "$rounds" =~ ^[0-9]+$ ]] && (( rounds >= 1 && rounds <= 100 )) ||
  die "rounds: expected an integer in [1, 100], got '$rounds'"
[[ "$threads" =~ ^[0-9]+$ ]] && (( threads >= 1 && threads <= 256 )) ||
  die "threads: expected an integer in [1, 256], got '$threads'"
[[ "$steps" =~ ^[0-9]+$ ]] && (( steps >= 1 && steps <= 10000 )) ||
  die "steps: expected an integer in [1, 10000], got '$steps'"
read -r -a model_list <<<"$models"
read -r -a config_list <<<"$configs"
[[ ${#model_list[@]} -gt 0 ]] || die "--models: no model given"
[[ ${#config_list[@]} -gt 0 ]] || die "--configs: no config given"
for m in "${model_list[@]}"; do
  [[ "$m" == vgg7-fmnist || "$m" == resnet20 ]] ||
    die "--models: unknown model '$m' (expected vgg7-fmnist and/or resnet20)"
done
for c in "${config_list[@]}"; do
  [[ "$c" == fp32 || "$c" == w2a2 || "$c" == progressive ]] ||
    die "--configs: unknown config '$c' (expected fp32, w2a2 and/or progressive)"
done

anchor=${TAPER_TORCH_ANCHOR:-../shared/bench/torch_anchor.py}
[[ -f "$anchor" ]] || die "torch anchor $anchor not found (set TAPER_TORCH_ANCHOR)"
python=/usr/bin/python3

scripts/install-deps.sh python3-torch libopenblas0-pthread
scripts/build.sh >/dev/null
build_dir=${TAPER_BUILD_DIR:-build}
taper="$build_dir/taper"
[[ -x "$taper" ]] || die "$taper was not built"
out="$build_dir/bench-vs-torch.jsonl"
: >"$out"

# taper_bits MODEL CONFIG — taper's --wbits/--abits for a config.
taper_bits() {
  case "$2" in
    fp32) echo "--wbits 32 --abits 32" ;;
    w2a2) echo "--wbits 2 --abits 2" ;;
    progressive)
      case "$1" in
        vgg7-fmnist) echo "--wbits 8-4-2-1-1-1-1 --abits 2" ;;
        resnet20) echo "--wbits 4-2-1 --abits 2" ;;
      esac ;;
  esac
}

# record PROGRAM ROUND LINE — checks LINE is one JSON object and appends it to
# the raw file with the program and round in front.
record() {
  local program=$1 round=$2 line=$3
  [[ "$line" == \{*\} && "$line" != *$'\n'* ]] ||
    die "$program printed something other than one JSON line: $line"
  echo "{\"program\":\"$program\",\"round\":$round,${line#\{}" >>"$out"
}

run_torch() {  # MODEL CONFIG ROUND
  local line
  line=$("$python" "$anchor" --model "$1" --bits "$2" --threads "$threads" --batch "$batch" --steps "$steps") ||
    die "torch_anchor.py failed on $1 $2"
  record torch "$3" "$line"
}

run_taper() {  # MODEL CONFIG ROUND
  local line
  # shellcheck disable=SC2046  # the bits are several words on purpose
  line=$("$taper" bench "models/$1.json" $(taper_bits "$1" "$2") --label "$2" --threads "$threads" \
         --batch "$batch" --steps "$steps" --warmup "$warmup" --json) ||
    die "taper bench failed on $1 $2"
  record taper "$3" "$line"
}

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "machine: ${cpu:-unknown CPU}, nproc $(nproc)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
echo "batch $batch, $steps timed steps after $warmup warm-up, $threads threads, $rounds rounds"
for (( r = 1; r <= rounds; ++r )); do
  for m in "${model_list[@]}"; do
    for c in "${config_list[@]}"; do
      say "round $r/$rounds: $m $c"
      if (( r % 2 == 1 )); then
        run_torch "$m" "$c" "$r"
        run_taper "$m" "$c" "$r"
      else
        run_taper "$m" "$c" "$r"
        run_torch "$m" "$c" "$r"
      fi
    done
  done
done
echo "load after:  $(uptime | sed 's/.*load average/load average/')"
echo "raw results: $out"
echo

# Medians per (model, config, program) and the taper/torch ratios.
python3 - "$out" "${model_list[*]}" "${config_list[*]}" "$threads" "$batch" <<'EOF'
import json, statistics, sys

path, models, configs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
threads, batch = int(sys.argv[4]), int(sys.argv[5])
runs = {}
with open(path) as f:
    for n, text in enumerate(f, 1):
        row = json.loads(text)
        if row["threads"] != threads or row["batch"] != batch:
            sys.exit(f"{path}:{n}: {row['program']} ran with threads {row['threads']}, batch "
                     f"{row['batch']}; expected {threads}, {batch}")
        runs.setdefault((row["model"], row["config"], row["program"]), []).append(row)

def median(model, config, program, field):
    rows = runs.get((model, config, program))
    if not rows:
        sys.exit(f"{path}: no {program} result for {model} {config}")
    return statistics.median(r[field] for r in rows)

head = ["model", "config", "torch train", "taper train", "ratio", "torch infer", "taper infer",
        "ratio", "torch MB", "taper MB", "ratio"]
table = []
for m in models:
    for c in configs:
        row = [m, c]
        for field in ("train_img_s", "infer_img_s", "peak_rss_mb"):
            t, p = median(m, c, "torch", field), median(m, c, "taper", field)
            row += [f"{t:.1f}", f"{p:.1f}", f"{p / t:.2f}"]
        table.append(row)
widths = [max(len(r[i]) for r in [head] + table) for i in range(len(head))]
def line(r):
    return "  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
print(line(head))
for r in table:
    print(line(r))
print("train/infer in images/s, peak RSS in MB; medians over the rounds;")
print("ratio = taper / torch (above 1: taper faster; for memory, below 1: taper smaller)")
EOF
