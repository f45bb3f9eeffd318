#!/usr/bin/env bash
# The whole test suite:
#   1. the optimized build of tswatchdog itself (what users run: -O2 shows
#      warnings that -O0 does not) with a smoke run;
#   2. a Debug build with AddressSanitizer + UndefinedBehaviorSanitizer runs
#      every test (unit, lab on the real kernel, LocalAPI against the fake
#      tailscaled, packaging); its ctest summary closes the output.
# CI's budget is 10 minutes on 2 cores and compiling dominates, so the test
# binaries are built once, under the sanitizers, with line tables only (-g1:
# enough for sanitizer stack traces, much cheaper than full debug info).
# Lab tests need root (network namespaces); without it they skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
echo "== RelWithDebInfo build of tswatchdog, smoke run"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" --target tswatchdog
build/tswatchdog --version
build/tswatchdog run --config /dev/null --print-config >/dev/null
echo "optimized build: ok"

echo "== ASan + UBSan build, all tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTSWATCHDOG_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DCMAKE_C_FLAGS_DEBUG="-g1" >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan &&
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" --timeout 180)
