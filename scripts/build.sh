#!/usr/bin/env bash
# Configures and builds taper in build/ (Release, -march=native unless
# TAPER_NATIVE=OFF is set in the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TAPER_BUILD_DIR:-build}
launcher=()
# ccache, where installed, makes rebuilds in several checkouts cheap.
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTAPER_NATIVE="${TAPER_NATIVE:-ON}" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
