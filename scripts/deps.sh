#!/usr/bin/env bash
# Installs whatever build and test dependencies are missing (Debian 12, as root).
# Run by demo.sh and test.sh; safe to run again: it only installs what is absent.
# Packages named as arguments are installed too (scripts/cross.sh passes its
# cross compilers and qemu-user).
set -euo pipefail

TSWATCHDOG_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libmnl-dev            # rtnetlink sockets and message helpers
  libcurl4-openssl-dev  # fleet tests: their HTTP client for Prometheus and node_exporter
  nlohmann-json3-dev    # LocalAPI JSON
  libtomlplusplus-dev   # config file
  libspdlog-dev libfmt-dev  # logging
  libcxxopts-dev        # command line
  libnl-3-dev libnl-nf-3-dev # the conntrack ladder step (ctnetlink)
  libgtest-dev libgmock-dev # tests
  iproute2 util-linux busybox # lab tests: ip, unshare
  libbenchmark-dev      # benchmarks (scripts/bench.sh): parse times
  curl                  # benchmarks: the polling-watchdog script they compare with
  nftables conntrack    # conntrack lab tests: masquerade, `conntrack -L`
  ansible-core ansible-lint openssh-client jq # fleet: the Ansible role, its lint and its test
  iptables ipset iputils-ping # the lab's mwan3 stand-in (tests/mwan3): mangle chains, ipsets, its tracker's pings
  universal-ctags       # scripts/check_architecture.sh: function lengths
  "$@"
  clang libclang-rt-14-dev  # the sanitizer test build and libFuzzer (tests/fuzz)
  lld                   # links the sanitizer test build (scripts/test.sh): a quarter of ld.bfd's CPU
)

missing=()
for pkg in "${TSWATCHDOG_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: need root to apt-get install the packages above" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Fleet monitoring tests (tests/fleet/): Prometheus (with promtool) and
# node_exporter. Their Debian packages are unpacked, not installed: installing
# them would enable and start both services on this machine, listening on
# every address (:9090, :9100). The tests run the binaries in a network
# namespace of their own. CMake looks for them in $FLEET_TOOLS/usr/bin.
FLEET_TOOLS=/var/cache/tswatchdog-test-tools
if [[ ! -x $FLEET_TOOLS/usr/bin/prometheus || ! -x $FLEET_TOOLS/usr/bin/promtool ||
  ! -x $FLEET_TOOLS/usr/bin/prometheus-node-exporter ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: need root to unpack prometheus into $FLEET_TOOLS" >&2
    exit 1
  fi
  echo "deps: unpacking prometheus and prometheus-node-exporter into $FLEET_TOOLS"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  chown _apt "$download" 2>/dev/null || true # apt-get download drops to _apt
  (cd "$download" && { apt-get download prometheus prometheus-node-exporter 2>/dev/null ||
    { apt-get update -qq && apt-get download prometheus prometheus-node-exporter; }; })
  mkdir -p "$FLEET_TOOLS"
  for deb in "$download"/*.deb; do dpkg-deb -x "$deb" "$FLEET_TOOLS"; done
fi
