#!/usr/bin/env bash
# One fuzz test (ctest label fuzz; README, "Fuzzing"):
#   run_fuzzer.sh FUZZER SECONDS WORK_DIR FUZZ_SOURCE_DIR NAME
# 1. replays tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME, each
#    input once; 2. fuzzes for SECONDS (0: skip) starting from both. New
#    inputs and crash artifacts go to WORK_DIR (scratch, in the build tree),
#    never into the source tree. Any crash, sanitizer report, leak, timeout
#    (10 s per input) or RSS over 2 GB fails the test.
set -euo pipefail
fuzzer=$1 seconds=$2 work=$3 src=$4 name=$5

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
opts=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/"
      -print_final_stats=1)
[[ -f $src/dict/$name.dict ]] && opts+=(-dict="$src/dict/$name.dict")
inputs=("$src/corpus/$name")
[[ -d $src/regressions/$name ]] && inputs+=("$src/regressions/$name")

echo "== $name: replaying ${inputs[*]}"
"$fuzzer" "${opts[@]}" -runs=0 "${inputs[@]}"
if ((seconds > 0)); then
  echo "== $name: fuzzing for ${seconds}s into $work/corpus"
  # Mutations stay as long as the seed corpus' inputs (a few KB): libFuzzer
  # would otherwise size them after the largest regression input (tens of
  # KB, each replayed whole above).
  "$fuzzer" "${opts[@]}" -max_len=8192 -max_total_time="$seconds" \
    "$work/corpus" "${inputs[@]}"
fi
echo "== $name: ok (artifacts would be in $work/artifacts)"
