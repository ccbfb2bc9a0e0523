#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (Debian packages,
# Fashion-MNIST), builds, trains VGG-7 for Fashion-MNIST with progressively
# decreasing weight bits (progressive:8 = 8-4-2-1-1-1-1 per stage) and 2-bit
# activations, and prints the test accuracy, the average weight bits and the
# quantized size next to the homogeneous 2-bit network's; then exports the
# packed low-bit file and prints its real size next to the float
# checkpoint's, its test accuracy on the integer engine and the integer
# engine's inference speed next to the float engine's.
#
# Environment: TAPER_DEMO_EPOCHS (default 3: about 10 minutes of training on
# 2 cores), TAPER_DEMO_THREADS (default: all cores), TAPER_DATA (data cache).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/get-data.sh fashion-mnist
scripts/build.sh

epochs=${TAPER_DEMO_EPOCHS:-3}
threads=${TAPER_DEMO_THREADS:-$(nproc)}
out=runs/demo-$(date +%Y%m%d-%H%M%S)
taper=build/taper

echo
echo "== training vgg7-fmnist on Fashion-MNIST: weights progressive:8, activations 2 bits, $epochs epochs =="
start=$(date +%s)
$taper train --model vgg7-fmnist --data fashion-mnist --wbits progressive:8 --abits 2 \
  --epochs "$epochs" --threads "$threads" --out "$out"
end=$(date +%s)

# One number out of a one-line JSON object.
field() { grep -o "\"$2\":[^,}]*" <<<"$1" | head -n1 | cut -d: -f2; }
result=$(tr -d ' \n' <"$out/result.json")
prog=$($taper summary vgg7-fmnist --wbits progressive:8 --abits 2 --json)
two=$($taper summary vgg7-fmnist --wbits 2 --abits 2 --json)

acc=$(field "$result" test_acc_at_best)
best=$(field "$result" best_epoch)
pbits=$(field "$prog" avg_weight_bits)
pq=$(field "$prog" quantized_weight_bytes)
tq=$(field "$two" quantized_weight_bytes)
pw=$(field "$prog" weight_bytes)
tw=$(field "$two" weight_bytes)
fp=$(field "$prog" fp32_bytes)

echo
echo "== result ($out, training took $((end - start)) s) =="
awk -v acc="$acc" -v best="$best" -v pbits="$pbits" -v pq="$pq" -v tq="$tq" -v pw="$pw" -v tw="$tw" -v fp="$fp" 'BEGIN {
  printf "test accuracy at the best validation epoch (%d): %.2f%%\n", best, 100 * acc
  printf "average weight bits:        %.2f (progressive 8-4-2-1-1-1-1)   vs 2.00 (homogeneous 2-bit)\n", pbits
  printf "quantized weights:          %d bytes                     vs %d bytes (%.0f%% smaller)\n", pq, tq, 100 * (1 - pq / tq)
  printf "all weights (fp32 output layer):   %d bytes         vs %d bytes; float32 model %d bytes\n", pw, tw, fp
}'
echo "curves: $out/curves.png   metrics: $out/metrics.jsonl   checkpoint: $out/best.safetensors"

echo
echo "== deployed: the packed low-bit file and the integer engine =="
$taper export "$out" --out "$out/model.taper" >/dev/null
packed_bytes=$(stat -c %s "$out/model.taper")
ckpt_bytes=$(stat -c %s "$out/best.safetensors")
packed_eval=$($taper eval "$out/model.taper" --threads "$threads" --json)
float_eval=$($taper eval "$out/best.safetensors" --threads "$threads" --json)
float_bench=$($taper bench vgg7-fmnist --wbits progressive:8 --abits 2 --batch 128 --threads "$threads" --steps 5 \
  --no-train --json)
packed_bench=$($taper bench vgg7-fmnist --wbits progressive:8 --abits 2 --batch 128 --threads "$threads" --steps 5 \
  --packed --json)
awk -v pb="$packed_bytes" -v cb="$ckpt_bytes" -v fp="$fp" -v pa="$(field "$packed_eval" accuracy)" \
  -v fa="$(field "$float_eval" accuracy)" -v ps="$(field "$packed_bench" infer_img_s)" \
  -v fs="$(field "$float_bench" infer_img_s)" 'BEGIN {
  printf "packed file (measured):     %d bytes   vs float checkpoint %d bytes (%.0fx smaller; float32 model %d bytes)\n", pb, cb, cb / pb, fp
  printf "test accuracy:              %.2f%% integer engine   vs %.2f%% float engine\n", 100 * pa, 100 * fa
  printf "inference (batch 128):      %.1f img/s integer engine   vs %.1f img/s float engine (%.2fx)\n", ps, fs, ps / fs
}'
echo "packed model: $out/model.taper (taper eval / forward run it; tools/taper_packed.py reads it)"
