# tswatchdog and tailscaled.service under systemd: an admin's stop, the state
# file while a step runs, doctor on the real unit set. Sourced by
# run_case.sh.
# shellcheck shell=bash

state_is() { wait_until "${2:-20}" "tswatchdog status | grep -q '^state: *$1'"; }

# `systemctl stop tailscaled` is the admin's intent: tswatchdog must not undo
# it. A crash of tailscaled (no Restart= of its own) is still healed.
case_admin_stop_tailscaled() {
  install_package || return
  fast_config | write_config
  start_watchdog || return
  if state_is healthy; then pass "healthy first"; else fail "never healthy"; return; fi
  local cursor
  cursor=$(journal_cursor)
  ct 'systemctl stop tailscaled'
  if state_is suppressed; then pass "suppressed after the admin's stop"; else fail "not suppressed after the admin's stop"; fi
  check "tailscaled is still stopped" '! systemctl is-active -q tailscaled'
  check "no restart step ran" \
    "! journalctl --after-cursor='$cursor' -o cat -u tswatchdog | grep -q 'running step restart'"
  ct 'systemctl start tailscaled'
  if state_is healthy; then pass "healthy again once the admin starts it"; else fail "not healthy after the admin's start"; fi

  # A crash: tailscaled without Restart= of its own dies; that is no intent.
  ct 'mkdir -p /etc/systemd/system/tailscaled.service.d
      printf "[Service]\nRestart=no\n" >/etc/systemd/system/tailscaled.service.d/lab.conf
      systemctl daemon-reload'
  cursor=$(journal_cursor)
  ct 'kill -KILL "$(systemctl show -p MainPID --value tailscaled)"'
  expect_within 60 "a crashed tailscaled is restarted by the restart step" \
    "journalctl --after-cursor='$cursor' -o cat -u tswatchdog | grep -q 'recovered by restart'"
  check "tailscaled runs again" 'systemctl is-active -q tailscaled'
}

# The state file says a step finished as soon as it has, not at the next
# transition: the soft kick after start finishes at once, and `grace` (20 s)
# passes before the next transition.
case_state_after_step() {
  install_package || return
  echo 'grace = "20s"' | write_config
  start_watchdog || return
  expect_within 10 "the soft kick finished" \
    'journalctl -b -o cat -u tswatchdog | grep -q "step rebind done"'
  expect_within 2 "status says so within 2 s" \
    'tswatchdog status | grep -qE "^last step: +rebind .*\(ok\)"'
  check "still verifying: no transition has written it" \
    'tswatchdog status | grep -q "^state: *verifying"'
}

# doctor on the units a Debian 12 host really has: Debian's ssh.socket with a
# drop-in, the lab's tailscaled.service, the package's tswatchdog.service.
case_doctor_real_units() {
  install_package || return
  ct 'mkdir -p /etc/systemd/system/ssh.socket.d
      printf "[Socket]\nListenStream=\nListenStream=100.64.0.1:22\n" \
        >/etc/systemd/system/ssh.socket.d/20-tailscale-address.conf
      systemctl disable -q --now ssh.service; systemctl enable -q ssh.socket
      systemctl daemon-reload'
  ct 'tswatchdog doctor >/tmp/doctor.txt; echo $? >/tmp/doctor.rc'
  check "exit 1: findings" '[ "$(cat /tmp/doctor.rc)" = 1 ]'
  check "ssh.socket on the Tailscale address, with the FreeBind drop-in as its fix" \
    'grep -q "ssh.socket listens on the Tailscale address 100.64.0.1" /tmp/doctor.txt &&
     grep -q "/etc/systemd/system/ssh.socket.d/10-tailscale-freebind.conf" /tmp/doctor.txt'
  check "tailscaled not after network-online.target" \
    'tswatchdog doctor --json | grep -q "\"tailscaled-network-online\""'
  # The fixes doctor names are the example drop-ins the package ships.
  ct 'cp /usr/share/doc/tswatchdog/examples/ssh.socket.d/10-tailscale-freebind.conf \
        /etc/systemd/system/ssh.socket.d/
      mkdir -p /etc/systemd/system/tailscaled.service.d
      cp /usr/share/doc/tswatchdog/examples/tailscaled.service.d/10-wait-online.conf \
        /etc/systemd/system/tailscaled.service.d/
      systemctl daemon-reload'
  check "clean once the fixes are in" 'tswatchdog doctor >/tmp/doctor2.txt || { cat /tmp/doctor2.txt; false; }'
  check "systemd agrees: no ordering cycle, nothing to complain about" \
    '! systemd-analyze verify ssh.socket tailscaled.service tswatchdog.service 2>&1 | grep -qiE "cycle|error"'

  # An admin's own unit in /etc ordered after tailscaled and bound to it, and
  # started by tailscaled's .wants/.
  ct 'cat >/etc/systemd/system/lab-web.socket <<EOF
[Unit]
After=tailscaled.service
[Socket]
ListenStream=100.64.0.1:8080
[Install]
WantedBy=sockets.target
EOF
      cat >/etc/systemd/system/lab-api.service <<EOF
[Unit]
BindsTo=tailscaled.service
After=tailscaled.service
[Service]
ExecStart=/bin/sleep infinity --listen=100.64.0.1:9090
[Install]
WantedBy=tailscaled.service
EOF
      systemctl daemon-reload; systemctl enable -q lab-web.socket lab-api.service'
  ct 'tswatchdog doctor >/tmp/doctor3.txt'
  check "a unit in /etc is not called a vendor file" '! grep -qi "vendor file" /tmp/doctor3.txt'
  check "tailscaled.service.wants/ does start a BindsTo= unit again" \
    '! grep -q "nothing starts it again when tailscaled" /tmp/doctor3.txt &&
     grep -q "tailscaled.service.wants/ starts it again" /tmp/doctor3.txt'
}
