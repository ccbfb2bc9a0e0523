#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Fashion-MNIST (a Debian package) for the tests that train on real data.
scripts/get-data.sh fashion-mnist
scripts/build.sh
build_dir=${TAPER_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 900
