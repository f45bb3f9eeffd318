#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes each for longer
# than CI does. README, "Fuzzing".
#   scripts/fuzz.sh [--update-corpus] [SECONDS] [TARGET...]
# SECONDS per target (default 300); TARGETs among netlink localapi_http
# bus_lines tailscale_json config (default: all). Each run starts from
# tests/fuzz/corpus/TARGET and tests/fuzz/regressions/TARGET and writes into
# $BUILD_DIR/tests/fuzz/work/TARGET (BUILD_DIR defaults to build-fuzz).
# --update-corpus merges the new inputs that reach new edges into
# tests/fuzz/corpus/TARGET (libFuzzer -merge=1 -use_counters=0: edges, not
# hit counts, keep the corpus small), to be reviewed and committed.
# A crash stops that target and leaves the input in .../work/TARGET/artifacts:
# fix the bug, then copy the input to tests/fuzz/regressions/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
if [[ ${1:-} == --update-corpus ]]; then
  update=1
  shift
fi
seconds=${1:-300}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(netlink localapi_http bus_lines tailscale_json config)
build=${BUILD_DIR:-build-fuzz}

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DTSWATCHDOG_SANITIZE=ON -DTSWATCHDOG_FUZZ=ON \
  -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DCMAKE_C_FLAGS_DEBUG="-g1" >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/%/_fuzzer}"

failed=()
for t in "${targets[@]}"; do
  work=$build/tests/fuzz/work/$t
  if ! bash tests/fuzz/run_fuzzer.sh "$build/tests/fuzz/${t}_fuzzer" "$seconds" \
       "$work" tests/fuzz "$t" 2>&1 | tee "$build/fuzz-$t.log" |
       grep -E '^(==|stat::|#[0-9]+ +DONE)|ERROR|SUMMARY|Test unit written'; then
    failed+=("$t")
    continue
  fi
  if ((update)); then
    before=$(ls tests/fuzz/corpus/"$t" | wc -l)
    "$build/tests/fuzz/${t}_fuzzer" -merge=1 -use_counters=0 tests/fuzz/corpus/"$t" "$work/corpus" \
      >"$build/fuzz-$t-merge.log" 2>&1
    echo "== $t: corpus $before -> $(ls tests/fuzz/corpus/"$t" | wc -l) inputs"
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (logs: $build/fuzz-TARGET.log)" >&2
  exit 1
fi
echo "fuzz: all targets ok"
