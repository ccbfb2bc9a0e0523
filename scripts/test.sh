#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (which
# includes replaying every fuzz corpus, tests/fuzz/corpus/, through its
# target). Exits non-zero on any failure.
#
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer
#                                build in build-asan/ (gcc), same suite; see
#                                docs/reliability.md for the suppressions
#                                and the one test that skips itself
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
# Fashion-MNIST (a Debian package) for the tests that train on real data.
scripts/get-data.sh fashion-mnist

if [[ $sanitize -eq 0 ]]; then
  scripts/build.sh
  build_dir=${TAPER_BUILD_DIR:-build}
  cd "$build_dir"
  exec ctest --output-on-failure -j "$(nproc)" --timeout 900
fi

build_dir=${TAPER_ASAN_BUILD_DIR:-build-asan}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# RelWithDebInfo (-O2 -g): sanitized code at -O3 gains little and builds slower.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPER_SANITIZE=ON \
  -DTAPER_NATIVE="${TAPER_NATIVE:-ON}" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
# Any sanitizer report fails the test it happens in. UBSan is compiled
# recoverable so that tests/sanitize/ubsan.supp can silence third-party code;
# halt_on_error makes every other report fatal.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/sanitize/ubsan.supp"
cd "$build_dir"
exec ctest --output-on-failure -j "$(nproc)" --timeout 1800
