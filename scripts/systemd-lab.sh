#!/usr/bin/env bash
# The systemd lab: the Debian package under a real systemd 252, each test in
# a Debian 12 container booted with systemd-nspawn (tests/systemd/).
#   bash scripts/systemd-lab.sh                    # every case (label systemd)
#   bash scripts/systemd-lab.sh -R systemd.reload  # extra arguments go to ctest
# As root on Debian 12: installs the build dependencies, systemd-container and
# mmdebstrap; builds tswatchdog (GCC, RelWithDebInfo, as users build it) and
# fake_tailscaled in build-systemd/; its cpack .deb is what the tests install.
# The rootfs is built once (~2 min) and cached in
# /var/cache/tswatchdog-systemd-lab (TSWATCHDOG_LAB_CACHE), keyed by
# tests/systemd/packages.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh systemd-container mmdebstrap
cmake -S . -B build-systemd -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTSWATCHDOG_SYSTEMD_LAB=ON >/dev/null
cmake --build build-systemd -j "$(nproc)" --target tswatchdog fake_tailscaled
rc=0
ctest --test-dir build-systemd -L systemd --output-on-failure -j "$(nproc)" "$@" || rc=$?
# ctest shows no output of a skipped test: say why each one skipped.
grep -h "^SKIP: " build-systemd/Testing/Temporary/LastTest.log 2>/dev/null | sort -u || true
exit "$rc"
