#!/usr/bin/env bash
# The whole test suite. Two builds:
#   1. Debug with AddressSanitizer + UndefinedBehaviorSanitizer: every test
#      (unit, lab on the real kernel, LocalAPI against the fake tailscaled);
#   2. RelWithDebInfo (what users run; -O2 shows warnings -O0 does not): the
#      unit tests.
# Lab tests need root (network namespaces); without it they skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

echo "== ASan + UBSan build, all tests"
build build-asan -DCMAKE_BUILD_TYPE=Debug -DTSWATCHDOG_SANITIZE=ON
(cd build-asan &&
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" --timeout 180)

echo "== RelWithDebInfo build, unit tests"
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd build && ctest --output-on-failure -j "$jobs" --timeout 120 -L unit)
