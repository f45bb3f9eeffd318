#!/usr/bin/env bash
# The benchmarks (README, "Benchmarks"), as root on Debian 12:
#   bash scripts/bench.sh            # all four tables (~4 min)
#   bash scripts/bench.sh --quick    # a smoke run of the harness (seconds)
#   bash scripts/bench.sh --full     # 200 failovers for the polling script too (~35 min)
#   bash scripts/bench.sh --only heal          # only benchmark 5, time to heal (~6 min)
#   bash scripts/bench.sh --only heal --quick  # the same table at time scale 0.05
#   bash scripts/bench.sh --only sockdiag      # only benchmark 6, the connection check's cost (~1 min)
# Other flags go to build-bench/tests/bench/bench_lab (--help lists them).
# Builds an optimized tswatchdog (RelWithDebInfo, no sanitizers) and the bench
# programs in build-bench/, runs the lab benchmarks in network namespaces they
# create themselves, then the parse benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

quick=0
only=""
prev=""
for arg in "$@"; do
  [[ $arg == --quick ]] && quick=1
  [[ $prev == --only ]] && only=$arg
  [[ $arg == --only=* ]] && only=${arg#--only=}
  prev=$arg
done

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTSWATCHDOG_SANITIZE=OFF -DTSWATCHDOG_BENCH=ON >/dev/null
cmake --build build-bench -j "$(nproc)" --target tswatchdog fake_tailscaled bench_lab bench_parse \
  bench_heal mwan3_standin bench_sock_diag

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
if [[ $only == heal ]]; then
  build-bench/tests/bench/bench_heal "${heal_args[@]}"
  echo "uptime after: $(uptime)"
  exit 0
fi
build-bench/tests/bench/bench_lab "$@"

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
fi
echo "uptime after: $(uptime)"
