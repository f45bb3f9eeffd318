#!/usr/bin/env bash
# The systemd lab's fixture (ctest systemd.setup): the cached rootfs, then the
# package under test and the fake tailscaled, from the build directory.
#   setup.sh BUILD_DIR OUT_DIR
# OUT_DIR/tswatchdog.deb is what cpack makes of BUILD_DIR, as a user's
# `cpack` would (the tswatchdog target is built first; cpack builds nothing).
# Exit 77 with the reason where the lab cannot run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
source "$here/lab.sh"
build=$1 out=$2

why=$(lab_unusable)
if [[ -n $why ]]; then
  echo "SKIP: the systemd lab cannot run here: $why (scripts/systemd-lab.sh installs what it needs)"
  exit 77
fi
lab_sweep
t0=$SECONDS
rootfs=$(lab_rootfs) || exit 1
echo "rootfs: $rootfs ($((SECONDS - t0)) s; cached in $LAB_CACHE)"

cmake --build "$build" --target tswatchdog fake_tailscaled || exit 1
mkdir -p "$out"
rm -f "$out"/*.deb
cpack --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log"; exit 1; }
debs=("$out"/tswatchdog_*.deb)
[[ -f ${debs[0]} ]] || { echo "cpack made no .deb"; cat "$out/cpack.log"; exit 1; }
cp "${debs[0]}" "$out/tswatchdog.deb"
echo "package: ${debs[0]##*/}"
dpkg-deb -I "$out/tswatchdog.deb" | grep -E "^ (Version|Depends):"
