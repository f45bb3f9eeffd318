#!/usr/bin/env bash
# The whole test suite: one clang build with AddressSanitizer +
# UndefinedBehaviorSanitizer and libFuzzer instrumentation runs every test:
# unit, lab on the real kernel, LocalAPI against the fake tailscaled,
# packaging, fleet, the demo's story and the fuzz label (each fuzz target
# replays its corpus and regressions, then fuzzes for
# TSWATCHDOG_FUZZ_SECONDS). LeakSanitizer is on. Its ctest summary closes
# the output.
# CI's budget is 10 minutes on 2 cores and compiling dominates, so the test
# binaries are built once, with line tables only (-g1: enough for sanitizer
# stack traces, much cheaper than full debug info), as unity builds (CMake
# compiles up to 16 sources of a target in one compiler run, so the heavy
# headers, gtest's, nlohmann/json's, spdlog's, are parsed, instantiated and
# code-generated once per batch: 57% less CPU than one run per file; the
# backend, ASan's instrumentation and codegen, is most of what remains, which
# is why precompiled headers would add little); clang builds this tree
# with about 25% less CPU than GCC, lld links it with a quarter of GNU ld's
# CPU. ctest runs 4 tests per core: most lab tests wait, and the tests that
# compute the whole time share a `cpu` resource of one slot per core
# (tests/ctest_schedule.cmake).
# The optimized GCC build (-O2 shows warnings that -O0 and clang do not; what
# users and Debian build) is the systemd lab's (scripts/systemd-lab.sh, which
# .ci/run runs next): it builds it, packages it and runs it under a real
# systemd, one compiler run per file, so a unity batch never hides a missing
# #include.
# Lab tests need root (network namespaces); without it they skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
echo "== clang ASan + UBSan + libFuzzer build, all tests"
# CC/CXX count only when a build directory is first configured.
if [[ -f build-clang/CMakeCache.txt ]] &&
  ! grep -q '^CMAKE_CXX_COMPILER_ID:.*Clang\|^CMAKE_CXX_COMPILER:.*clang' build-clang/CMakeCache.txt; then
  rm -rf build-clang
fi
CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DTSWATCHDOG_SANITIZE=ON -DTSWATCHDOG_FUZZ=ON -DTSWATCHDOG_FUZZ_SECONDS=10 \
  -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DCMAKE_C_FLAGS_DEBUG="-g1" \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 \
  -DCMAKE_EXE_LINKER_FLAGS="-fuse-ld=lld" >/dev/null
cmake --build build-clang -j "$jobs"
cat >build-clang/ctest-resources.json <<EOF
{"version": {"major": 1, "minor": 0},
 "local": [{"cpu": [{"id": "cores", "slots": $jobs}]}]}
EOF
(cd build-clang &&
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j $((jobs * 4)) --timeout 180 \
    --resource-spec-file ctest-resources.json)
