#!/bin/bash
# The boot-race drop-ins in contrib/systemd/ under `systemd-analyze verify`,
# offline (SYSTEMD_UNIT_PATH=<tree>:), on a stand-in tailscaled.service plus
# an ssh.socket listening on a Tailscale address:
#   1. the drop-ins as shipped: no ordering cycle, no complaint about a file;
#   2. control: a bad value in a drop-in of the tree IS reported (verify reads
#      the tree's drop-ins, so 1. means something);
#   3. control: BindsTo= or Requires= plus After=tailscaled.service on the
#      socket IS reported as "Found ordering cycle" (DESIGN problem 3);
#   4. tswatchdog doctor agrees: exit 0 on 1., ordering-cycle on 3.
# Usage: systemd_dropins_test.sh CONTRIB_DIR TSWATCHDOG_BINARY
# Exit 77 (ctest: skipped) when systemd-analyze cannot run here.
set -u
contrib=${1:?contrib dir}
tswatchdog=${2:?tswatchdog binary}
analyze=${SYSTEMD_ANALYZE:-/usr/bin/systemd-analyze}

if [ ! -x "$analyze" ]; then
  echo "SKIP: $analyze not found (apt-get install systemd)"
  exit 77
fi
root=$(mktemp -d /tmp/tswatchdog-dropins-XXXXXX)
trap 'rm -rf "$root"' EXIT
units=$root/etc/systemd/system

# A probe: can systemd-analyze load a unit tree offline here at all?
mkdir -p "$root/probe"
printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$root/probe/probe.service"
if ! probe=$(SYSTEMD_UNIT_PATH="$root/probe:" "$analyze" verify probe.service 2>&1); then
  echo "SKIP: systemd-analyze verify cannot run in this environment:"
  echo "$probe"
  exit 77
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

mkdir -p "$units"/{multi-user.target.wants,sockets.target.wants,network-online.target.wants}
# Stand-ins with existing binaries (verify checks that ExecStart exists).
cat >"$units/tailscaled.service" <<'EOF'
[Unit]
Description=Tailscale node agent (test stand-in, upstream's ordering)
Wants=network-pre.target
After=network-pre.target NetworkManager.service systemd-resolved.service

[Service]
Type=simple
ExecStart=/bin/sleep infinity
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
cat >"$units/test-wait-online.service" <<'EOF'
[Unit]
Description=wait-online stand-in
DefaultDependencies=no
Before=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/true

[Install]
WantedBy=network-online.target
EOF
cat >"$units/ssh.socket" <<'EOF'
[Unit]
Description=OpenBSD Secure Shell server socket (test stand-in)
Before=sockets.target

[Socket]
ListenStream=100.101.102.103:22
Accept=yes

[Install]
WantedBy=sockets.target
EOF
cat >"$units/ssh@.service" <<'EOF'
[Unit]
Description=per-connection sshd (test stand-in)

[Service]
ExecStart=-/bin/cat
StandardInput=socket
EOF
ln -s ../tailscaled.service "$units/multi-user.target.wants/"
ln -s ../ssh.socket "$units/sockets.target.wants/"
ln -s ../test-wait-online.service "$units/network-online.target.wants/"
for d in tailscaled.service.d ssh.socket.d; do
  mkdir -p "$units/$d"
  cp "$contrib/systemd/$d"/*.conf "$units/$d/"
done
# tswatchdog as root (doctor's LocalAPI check), not enabled here.
printf '[Service]\nType=notify\nExecStart=/bin/true\n' >"$units/tswatchdog.service"
printf 'restart_on_ip = ["ssh.socket"]\n' >"$root/tswatchdog.toml"

# expect_doctor EXIT ID WHAT: doctor --json exits EXIT and reports finding ID
# (ID "" for a clean report).
expect_doctor() {
  local out rc
  out=$("$tswatchdog" doctor --root "$root" --config "$root/tswatchdog.toml" --json 2>&1)
  rc=$?
  if [ $rc -eq "$1" ] && { [ -z "$2" ] || grep -q "\"id\": \"$2\"" <<<"$out"; }; then
    pass "$3: doctor exit $rc${2:+, $2}"
  else
    fail "$3: doctor exit $rc, expected $1${2:+ with $2}"; echo "$out"
  fi
}

verify() {
  SYSTEMD_UNIT_PATH="$units:" "$analyze" verify multi-user.target \
    tailscaled.service ssh.socket 2>&1
}

# 1. The drop-ins as shipped.
out=$(verify)
echo "--- verify, drop-ins as shipped:"; echo "${out:-(no output)}"
if grep -qi "ordering cycle" <<<"$out"; then
  fail "the shipped drop-ins give an ordering cycle"
else
  pass "no ordering cycle with the shipped drop-ins"
fi
if grep -F "$units" <<<"$out"; then
  fail "systemd-analyze complains about a file of the tree"
else
  pass "no complaint about any file of the tree"
fi

# 2. Control: verify does read the tree's drop-ins.
printf '[Socket]\nFreeBind=maybe\n' >"$units/ssh.socket.d/99-typo.conf"
out=$(verify)
rm "$units/ssh.socket.d/99-typo.conf"
if grep -q "99-typo.conf" <<<"$out"; then
  pass "control: a bad drop-in value is reported"
else
  fail "control: a bad FreeBind= in a drop-in went unnoticed: $out"
fi

# 4a. doctor on the shipped tree.
expect_doctor 0 "" "shipped drop-ins"

# 3. Controls: ordering on tailscaled from a socket before sockets.target.
for dep in BindsTo Requires; do
  printf '[Unit]\n%s=tailscaled.service\nAfter=tailscaled.service\n' "$dep" \
    >"$units/ssh.socket.d/20-bad.conf"
  out=$(verify)
  echo "--- verify, ssh.socket with $dep=+After=tailscaled.service:"; echo "$out"
  if grep -q "Found ordering cycle" <<<"$out"; then
    pass "control ($dep): \"Found ordering cycle\"; $(grep -o 'Job [^ ]* deleted' <<<"$out" | head -1)"
  else
    fail "control ($dep): no ordering cycle reported"
  fi
  expect_doctor 1 ordering-cycle "control ($dep)"
  rm "$units/ssh.socket.d/20-bad.conf"
done

# 4b. doctor finds the missing wait-online ordering that systemd cannot.
rm "$units/tailscaled.service.d/10-wait-online.conf"
expect_doctor 1 tailscaled-network-online "without 10-wait-online.conf"

[ $failures -eq 0 ] && echo "all passed" || echo "$failures failed"
[ $failures -eq 0 ]
