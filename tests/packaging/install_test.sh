#!/usr/bin/env bash
# `cmake --install` into a staging root, then what systemd thinks of the unit:
# `systemd-analyze verify` must be clean and `systemd-analyze security` gives
# the exposure score (printed; it must stay at or below 2.5, "OK").
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

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found: skipping the unit checks"
else
  # verify resolves ExecStart= on this host: check a copy of the unit that
  # runs the staged binary, with the host's own units beside it.
  units=$root/verify-units
  mkdir -p "$units"
  sed "s|^ExecStart=$prefix/sbin/tswatchdog|ExecStart=$root$prefix/sbin/tswatchdog|" \
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
