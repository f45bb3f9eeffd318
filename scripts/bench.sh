#!/usr/bin/env bash
# The benchmarks (README, "Benchmarks"), as root on Debian 12:
#   bash scripts/bench.sh            # all seven tables (~14 min)
#   bash scripts/bench.sh --quick    # a smoke run of the harness (seconds)
#   bash scripts/bench.sh --full     # 200 failovers for the polling script too (~35 min)
#   bash scripts/bench.sh --only heal          # only benchmark 5, time to heal (~6 min)
#   bash scripts/bench.sh --only heal --quick  # the same table at time scale 0.05
#   bash scripts/bench.sh --only sockdiag      # only benchmark 6, the connection check's cost (~2 min)
#   bash scripts/bench.sh --only idle          # only benchmark 7, an idle daemon's wake-ups and RSS (~3 min)
#   bash scripts/bench.sh --only idle --baseline-commit 79b1684  # beside an older build of tswatchdog
# Other flags go to build-bench/tests/bench/bench_lab (--help lists them).
# Builds an optimized tswatchdog (RelWithDebInfo, no sanitizers) and the bench
# programs in build-bench/, runs the lab benchmarks in network namespaces they
# create themselves, then the parse benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

quick=0
only=""
baselines=()
lab_args=()
prev=""
for arg in "$@"; do
  [[ $arg == --quick ]] && quick=1
  [[ $prev == --only ]] && only=$arg
  [[ $arg == --only=* ]] && only=${arg#--only=}
  if [[ $prev == --baseline-commit ]]; then
    baselines+=("$arg")
  elif [[ $arg != --baseline-commit ]]; then
    lab_args+=("$arg")  # the rest goes to bench_lab
  fi
  prev=$arg
done

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTSWATCHDOG_SANITIZE=OFF -DTSWATCHDOG_BENCH=ON >/dev/null
cmake --build build-bench -j "$(nproc)" --target tswatchdog fake_tailscaled bench_lab bench_parse \
  bench_heal mwan3_standin bench_sock_diag bench_idle

# Benchmark 7's baselines: tswatchdog built from an older commit (its tree
# from git archive, optimized like this one) in build-bench/baseline-REV/.
idle_args=()
((quick)) && idle_args=(--quick)
for rev in "${baselines[@]}"; do
  src=build-bench/baseline-$rev
  if [[ ! -x $src/build/tswatchdog ]]; then
    mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
    cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTSWATCHDOG_SANITIZE=OFF >/dev/null
    cmake --build "$src/build" -j "$(nproc)" --target tswatchdog
  fi
  idle_args+=(--baseline "$rev=$src/build/tswatchdog")
done

echo "== tswatchdog benchmarks: $(git describe --always --dirty 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "command: bash scripts/bench.sh $*"
echo "uptime: $(uptime)"
heal_args=()
((quick)) && heal_args=(--quick)
sockdiag_args=()
((quick)) && sockdiag_args=(--quick)
if [[ $only == sockdiag ]]; then
  build-bench/tests/bench/bench_sock_diag "${sockdiag_args[@]}"
  echo "uptime after: $(uptime)"
  exit 0
fi
if [[ $only == idle ]]; then
  build-bench/tests/bench/bench_idle "${idle_args[@]}"
  echo "uptime after: $(uptime)"
  exit 0
fi
if [[ $only == heal ]]; then
  build-bench/tests/bench/bench_heal "${heal_args[@]}"
  echo "uptime after: $(uptime)"
  exit 0
fi
build-bench/tests/bench/bench_lab "${lab_args[@]}"

echo
echo "4. Parse time and peak heap of tailscaled's replies (Google Benchmark)"
parse_args=()
if ((quick)); then
  parse_args=(--benchmark_min_time=0.01 --benchmark_filter='/peers:(0|10|1000)$')
fi
build-bench/tests/bench/bench_parse "${parse_args[@]}"
echo "input = reply size in bytes; peak_heap = highest bytes live on the heap during one parse"
echo "(operator new/delete counted in the bench binary). ParseStatus: GET status, tab-indented;"
echo "ParseNotify: one bus line with an Engine update of N LivePeers. peers:0 is what the daemon"
echo "really reads: it asks for status?peers=false and no engine updates on the bus."
echo "BM_Nested*: a reply of N bytes of '[' (nesting N deep, within the 8 MiB cap): Refused is"
echo "ParseStatus (refused before parsing, depth > 64); Unguarded is nlohmann::json alone."
if [[ -z $only ]]; then
  # 5. Time to heal (tests/bench/heal_bench.cc): every scenario x approach in parallel.
  build-bench/tests/bench/bench_heal "${heal_args[@]}"
fi
if [[ -z $only ]]; then
  # 6. The connection check's cost (tests/bench/sock_diag_bench.cc).
  echo
  build-bench/tests/bench/bench_sock_diag "${sockdiag_args[@]}"
  # 7. An idle daemon's wake-ups and RSS (tests/bench/idle_bench.cc).
  build-bench/tests/bench/bench_idle "${idle_args[@]}"
fi
echo "uptime after: $(uptime)"
