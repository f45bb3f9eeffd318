#!/usr/bin/env bash
# One test of the systemd lab (ctest `systemd.NAME`, label systemd):
#   run_case.sh NAME
# boots a fresh container (lab.sh), installs the package with dpkg, runs
# case_NAME from cases_*.sh, and always powers the container off and removes
# it, whatever happens. Exit 0 passed, 1 failed, 77 skipped (with why).
# Environment (tests/systemd/CMakeLists.txt sets it): TSWATCHDOG_LAB_DEB, the
# .deb under test; TSWATCHDOG_LAB_FAKE, the fake_tailscaled binary;
# TSWATCHDOG_LAB_WORK, where container directories go. TSWATCHDOG_LAB_KEEP=1
# leaves the container running for a look inside (lab.sh exec, lab.sh down).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
source "$here/lab.sh"

case_name=${1:?usage: run_case.sh NAME}
work=${TSWATCHDOG_LAB_WORK:-${TMPDIR:-/tmp}}
LAB=$work/$case_name.$$
failures=0

# --- what the cases use -----------------------------------------------------

# ct 'shell code': runs it in the container (bash, clean environment).
ct() { lab_exec "$LAB" bash -c "$1"; }

pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# check DESCRIPTION 'shell code in the container'
check() {
  if ct "$2"; then pass "$1"; else fail "$1"; fi
}
# A figure for the log (never a pass/fail criterion).
figure() { echo "figure: $*"; }

# wait_until SECONDS 'shell code': polls the code in the container every
# 50 ms until it succeeds (0) or the deadline passes (1).
wait_until() {
  ct "end=\$((SECONDS + $1)); until { $2; } >/dev/null 2>&1; do
        ((SECONDS < end)) || exit 1; sleep 0.05; done"
}
# expect_within SECONDS DESCRIPTION 'shell code'
expect_within() {
  if wait_until "$1" "$3"; then pass "$2"; else fail "$2 (not within $1 s)"; fi
}

# Powers the container off and boots it again, disk state kept.
reboot_lab() {
  lab_stop "$LAB" && lab_up "$LAB" "tsw-$$" || { fail "the container did not boot again"; return 1; }
}

# The journal's position now; lines after it: journal_since CURSOR UNIT.
journal_cursor() { ct 'journalctl -n 0 --show-cursor --no-pager | sed -n "s/^-- cursor: //p"'; }
journal_since() { ct "journalctl --after-cursor='$1' -o cat --no-pager -u $2"; }

# Milliseconds on the container's monotonic clock.
now_ms() { ct 'read -r up _ </proc/uptime; echo $(( ${up/./} * 10 ))'; }

# pending N WHAT: the checks after it need the fix for defect N of issue 14,
# which is not in yet. Returns 1 (the case skips them) and the case ends as
# skipped, saying which fix it waits for, even when all else passed; with
# TSWATCHDOG_LAB_PENDING=1 it returns 0 and the checks run (and fail).
pending_defects=""
pending() {
  if [[ ${TSWATCHDOG_LAB_PENDING:-0} == 1 ]]; then
    echo "pending: running the checks for defect $1 ($2) anyway"
    return 0
  fi
  pending_defects+="${pending_defects:+; }defect $1: $2"
  return 1
}

# Skips the case: a host that cannot run it.
skip() {
  echo "SKIP: $*"
  exit 77
}

# The unit's config file, replaced by the text on stdin.
write_config() { ct 'cat >/etc/tswatchdog/tswatchdog.toml'; }

# Installs the package under test and starts nothing (enabling stays the
# admin's choice).
install_package() {
  ct 'dpkg -i /lab/tswatchdog.deb >/tmp/dpkg.log 2>&1' ||
    { ct 'cat /tmp/dpkg.log'; fail "dpkg -i"; return 1; }
}

# Starts tswatchdog.service and waits until it is active.
start_watchdog() {
  ct 'systemctl start tswatchdog.service' || { fail "systemctl start tswatchdog"; return 1; }
}

main_pid() { ct "systemctl show -p MainPID --value ${1:-tswatchdog.service}"; }

# The fake tailscaled's control command (tests/fake/README.md); the reply
# line is dropped, the exit status says whether it worked.
fake_ctl() { ct "/usr/local/bin/fake_tailscaled ctl --control /run/fake-tailscaled.ctl $* >/dev/null"; }

# Journal lines of a unit since the case began, messages only.
journal() { ct "journalctl -b -o cat --no-pager -u $1"; }

# What the journal holds for the units the lab cares about, for a failure.
dump_state() {
  echo "---- systemctl --failed; journal (last 150 lines) ----"
  ct 'systemctl --failed --no-pager; journalctl -b --no-pager -n 150 \
        -u tswatchdog -u tailscaled -u ssh.socket -u ssh.service' 2>&1
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  if ((failures > 0)) || ((rc != 0 && rc != 77)); then dump_state; fi
  if [[ ${TSWATCHDOG_LAB_KEEP:-0} == 1 ]]; then
    echo "container kept (TSWATCHDOG_LAB_KEEP=1): bash $here/lab.sh exec $LAB bash"
    echo "  then: bash $here/lab.sh down $LAB"
  else
    lab_down "$LAB"
  fi
  if ((rc == 77)); then exit 77; fi
  if ((failures > 0 || rc != 0)); then
    echo "$case_name: FAILED ($failures failed checks, exit $rc)"
    exit 1
  fi
  if [[ -n $pending_defects ]]; then
    echo "SKIP: $case_name passed its other checks, and fails until the fix for $pending_defects"
    exit 77
  fi
  echo "$case_name: passed"
  exit 0
}

# --- the run ----------------------------------------------------------------

for f in "$here"/cases_*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done
declare -F "case_$case_name" >/dev/null || { echo "no case '$case_name'" >&2; exit 2; }
why=$(lab_unusable)
[[ -z $why ]] || skip "the systemd lab cannot run here: $why"
for v in TSWATCHDOG_LAB_DEB TSWATCHDOG_LAB_FAKE; do
  [[ -f ${!v:-} ]] || { echo "$v does not name a file ('${!v:-}')" >&2; exit 2; }
done

mkdir -p "$work"
trap finish EXIT
trap 'exit 130' INT TERM
t0=$(date +%s%N)
lab_up "$LAB" "tsw-$$"
rc=$?
((rc == 77)) && skip "the systemd lab cannot run here"
((rc == 0)) || { fail "the container did not boot"; exit 1; }
figure "container booted in $((($(date +%s%N) - t0) / 1000000)) ms"
"case_$case_name"
