#!/usr/bin/env bash
# `cmake --install` into a staging root (the configured prefix, then
# `--prefix /usr`), the .deb cpack makes of the build, then what systemd
# thinks of the unit: `systemd-analyze verify` must be clean and
# `systemd-analyze security` gives the exposure score (printed; it must stay
# at or below 2.5, "OK").
# Usage: install_test.sh BUILD_DIR
set -uo pipefail
build=$1
root=$(mktemp -d /tmp/tswatchdog-install.XXXXXX)
trap 'rm -rf "$root"' EXIT
passed=0 failed=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else echo "FAIL: $what"; failed=$((failed + 1)); fi
}

DESTDIR=$root cmake --install "$build" >/dev/null || { echo "FAIL: cmake --install"; exit 1; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
unit=$(find "$root" -name tswatchdog.service | head -n1)
check "binary installed" test -x "$root$prefix/sbin/tswatchdog"
check "unit installed" test -n "$unit"
check "config installed" test -f "$(find "$root" -path '*/tswatchdog/tswatchdog.toml' | head -n1)"
check "drop-in examples installed" test -f "$(find "$root" -name 10-wait-online.conf | head -n1)"
check "unit runs the installed binary" grep -q "^ExecStart=$prefix/sbin/tswatchdog run --config " "$unit"
check "installed config parses" "$root$prefix/sbin/tswatchdog" run --print-config \
  --config "$(find "$root" -path '*/tswatchdog/tswatchdog.toml' | head -n1)" >/dev/null

# A second install keeps an edited config.
config=$(find "$root" -path '*/tswatchdog/tswatchdog.toml' | head -n1)
echo 'grace = "45s"' > "$config"
DESTDIR=$root cmake --install "$build" >/dev/null
check "reinstall keeps the edited config" grep -q '^grace = "45s"$' "$config"

# The prefix given at install time decides every path: binary, unit, the
# unit's ExecStart= and --config, the config itself (it once left the unit
# in /usr/local with ExecStart=/usr/local/sbin/...).
usr=$root/prefix-usr
DESTDIR=$usr cmake --install "$build" --prefix /usr >/dev/null
check "--prefix /usr: binary in /usr/sbin" test -x "$usr/usr/sbin/tswatchdog"
check "--prefix /usr: unit in /usr/lib/systemd/system, running /usr/sbin/tswatchdog on /etc's config" \
  grep -q "^ExecStart=/usr/sbin/tswatchdog run --config /etc/tswatchdog/tswatchdog.toml$" \
  "$usr/usr/lib/systemd/system/tswatchdog.service"
check "--prefix /usr: config in /etc" test -f "$usr/etc/tswatchdog/tswatchdog.toml"
check "--prefix /usr: nothing under /usr/local" test ! -e "$usr/usr/local"

# The Debian package, from this build whatever its prefix: under /usr, the
# config a conffile (dpkg keeps an edited one), the maintainer scripts.
if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null; then
  if cpack --config "$build/CPackConfig.cmake" -B "$root/cpack" >"$root/cpack.log" 2>&1; then
    deb=$(ls "$root"/cpack/tswatchdog_*.deb)
    dpkg-deb -c "$deb" | awk '{print $6}' >"$root/deb-files"
    check "deb: binary and unit under /usr" \
      grep -qx './usr/sbin/tswatchdog' "$root/deb-files"
    check "deb: the unit in /usr/lib/systemd/system" \
      grep -qx './usr/lib/systemd/system/tswatchdog.service' "$root/deb-files"
    check "deb: nothing under /usr/local" bash -c "! grep -q '^./usr/local' '$root/deb-files'"
    check "deb: the config is a conffile" \
      bash -c "dpkg-deb --info '$deb' conffiles | grep -qx /etc/tswatchdog/tswatchdog.toml"
    check "deb: ExecStart= matches the files" \
      bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/lib/systemd/system/tswatchdog.service |
               grep -q '^ExecStart=/usr/sbin/tswatchdog run --config /etc/tswatchdog/tswatchdog.toml$'"
    for script in postinst prerm postrm; do
      check "deb: $script" bash -c "dpkg-deb --info '$deb' $script >/dev/null"
    done
  else
    echo "FAIL: cpack"; cat "$root/cpack.log"; failed=$((failed + 1))
  fi
else
  echo "cpack or dpkg-deb not found: skipping the package checks"
fi

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found: skipping the unit checks"
else
  # verify resolves ExecStart= on this host: check a copy of the unit that
  # runs the staged binary, with the host's own units beside it.
  units=$root/verify-units
  mkdir -p "$units"
  sed "s|^\(Exec[A-Za-z]*\)=$prefix/sbin/tswatchdog|\1=$root$prefix/sbin/tswatchdog|" \
    "$unit" > "$units/tswatchdog.service"
  out=$(SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$units/tswatchdog.service" 2>&1)
  check "systemd-analyze verify is clean" test -z "$out"
  [ -z "$out" ] || echo "$out"
  score=$(systemd-analyze security --offline=true --root="$root" "$unit" 2>/dev/null |
          sed -n 's/.*Overall exposure level for tswatchdog.service: \([0-9.]*\).*/\1/p')
  echo "systemd-analyze security: overall exposure ${score:-?}"
  check "exposure score known" test -n "$score"
  check "exposure at most 2.5" awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.5) }'
fi
echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
