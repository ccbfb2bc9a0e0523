#!/usr/bin/env bash
# Writes the seed corpus of fuzz_packed (tests/fuzz/corpus/packed/seed-*):
# small packed model files made by the taper program itself (a lenet5
# trained for one short epoch on 256 Fashion-MNIST images, exported at three policies).
# make_corpus.py (standard library only) cannot write these, hence this
# script; it needs a built taper.
#
#   tests/fuzz/make_packed_seeds.sh [TAPER=build/taper]
set -euo pipefail
cd "$(dirname "$0")/../.."
taper=${1:-build/taper}
out=tests/fuzz/corpus/packed
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
rm -f "$out"/seed-*
for policy in "2 2" "1 2" "progressive:4 4"; do
  read -r w a <<<"$policy"
  name=lenet5-w${w/:/}-a$a
  "$taper" train --model lenet5 --data fashion-mnist --wbits "$w" --abits "$a" --epochs 1 --limit 256 \
    --threads 1 --seed 1 --out "$tmp/$name" >/dev/null
  "$taper" export "$tmp/$name" --out "$out/seed-$name.safetensors" >/dev/null
done
ls -l "$out"
