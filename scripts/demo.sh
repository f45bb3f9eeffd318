#!/usr/bin/env bash
# The README's demo: one silent failover, twice, at tailscaled's real timing.
# Scenario (b) of the lab's world (tests/lab/scenarios.h): wan0's gateway
# fails over to a VRRP backup router that NATs elsewhere; the router sees no
# change. Two identical worlds fail at the same instant: in one tailscaled is
# alone (watched live, with what the kernel says about its connections), in
# the other `tswatchdog run` (default config) watches it. Under a minute.
#
# Everything runs in throw-away network and mount namespaces held by the
# demo's processes (tests/demo/demo_lab.cc): Ctrl-C, a failure or the end
# leaves nothing behind. Options go to demo_lab (--help); e.g.
# `--time-scale 0.05` runs it twenty times faster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (the lab makes network namespaces)" >&2
  exit 1
fi
bash scripts/deps.sh
# A build directory of its own (the README's `build` may use another
# generator), optimized like a release.
echo "demo: building tswatchdog, the fake tailscaled and the lab in build-demo/" \
  "(minutes the first time)"
mkdir -p build-demo
log=build-demo/demo-build.log
if ! { cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
  cmake --build build-demo --target demo_lab; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "demo.sh: the build failed (whole log: $log)" >&2
  exit 1
fi
exec build-demo/tests/demo_lab "$@"
