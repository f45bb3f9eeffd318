# restart_on_ip with Debian 12's own ssh.socket (Accept=no) and sshd, bound
# to the Tailscale address: sshd must end up listening there, and never on
# every address. Sourced by run_case.sh.
# shellcheck shell=bash

# ssh.socket on the Tailscale address only, ssh.service off (socket
# activation), restart_on_ip = ["ssh.socket"]; `freebind` adds the drop-in
# the package ships as an example.
ssh_on_tailscale_address() {
  ct 'mkdir -p /etc/systemd/system/ssh.socket.d
      printf "[Socket]\nListenStream=\nListenStream=100.64.0.1:22\n" \
        >/etc/systemd/system/ssh.socket.d/20-tailscale-address.conf
      systemctl disable -q --now ssh.service
      systemctl enable -q ssh.socket'
  if [[ ${1:-} == freebind ]]; then
    ct 'cp /usr/share/doc/tswatchdog/examples/ssh.socket.d/10-tailscale-freebind.conf \
          /etc/systemd/system/ssh.socket.d/'
  fi
  ct 'systemctl daemon-reload'
  {
    fast_config
    [[ ${1:-} == freebind ]] || echo 'restart_on_ip = ["ssh.socket"]'
  } | write_config
}

# An SSH banner from 100.64.0.1:22; the first one starts ssh.service.
ssh_banner() {
  check "$1: sshd answers on 100.64.0.1:22" \
    'timeout 10 bash -c "exec 3<>/dev/tcp/100.64.0.1/22; head -c 8 <&3" | grep -q "^SSH-2.0"'
}

# Port 22 is open on 100.64.0.1 and on no other address.
ssh_listens_only_on_tailscale() {
  check "$1: port 22 open on 100.64.0.1 only" \
    '[ "$(ss -Hltn "sport = :22" | awk "{print \$4}" | sort -u | paste -sd" ")" = 100.64.0.1:22 ]'
}

# Waits until tswatchdog is healthy and no command it started still runs.
watchdog_settled() {
  expect_within 30 "$1: tswatchdog healthy, its commands done" \
    'tswatchdog status | grep -q "^state: *healthy" &&
     ! pgrep -P "$(systemctl show -p MainPID --value tswatchdog)" &&
     [ -z "$(systemctl list-jobs --no-legend)" ]'
}

# What must hold after any event: the socket listens, and an openssh upgrade
# (a restart of ssh.service) still serves only the Tailscale address.
ssh_still_behind_socket() {
  check "$1: ssh.socket active" 'systemctl is-active -q ssh.socket'
  ssh_listens_only_on_tailscale "$1"
  ct 'systemctl restart ssh.service'
  ssh_listens_only_on_tailscale "$1, then systemctl restart ssh.service"
  ssh_banner "$1, then systemctl restart ssh.service"
}

# The boot race: ssh.socket starts before tailscaled gave tailscale0 its
# address and fails; restart_on_ip brings it up once the address is there.
case_ssh_at_boot() {
  install_package || return
  ssh_on_tailscale_address
  ct 'systemctl enable -q tswatchdog'
  reboot_lab || return
  check "ssh.socket failed at boot (the race happened)" \
    'journalctl -b -o cat -u ssh.socket | grep -q "Failed to listen on"'
  expect_within 30 "ssh.socket active after the address appeared" 'systemctl is-active -q ssh.socket'
  watchdog_settled "after boot"
  ssh_banner "after boot"
  ssh_still_behind_socket "after boot"
}

# The shipped FreeBind drop-in alone: the socket binds before the address
# exists and survives the address going and coming back.
case_ssh_freebind_at_boot() {
  install_package || return
  ssh_on_tailscale_address freebind
  reboot_lab || return
  check "ssh.socket active from boot, never failed" \
    'systemctl is-active -q ssh.socket && ! journalctl -b -o cat -u ssh.socket | grep -q "Failed to listen"'
  ssh_banner "FreeBind, at boot"
  ct 'ip addr del 100.64.0.1/32 dev tailscale0; ip addr add 100.64.0.1/32 dev tailscale0'
  ssh_banner "FreeBind, after the address went and came back"
  ssh_still_behind_socket "FreeBind"
}

# Socket and sshd running (after a first connection), then EVENT: sshd must
# stay behind the socket.
ssh_service_active_then() {
  install_package || return
  ssh_on_tailscale_address
  ct 'systemctl restart ssh.socket'
  start_watchdog || return
  watchdog_settled "before"
  ssh_banner "before"
  check "ssh.service runs (Accept=no: one sshd for all connections)" 'systemctl is-active -q ssh.service'
  cursor=$(journal_cursor)
  "$@"
}

case_ssh_restart_watchdog() {
  ssh_service_active_then ct 'systemctl restart tswatchdog' || return 0
  watchdog_settled "tswatchdog restarted"
  ssh_still_behind_socket "tswatchdog restarted"
}

case_ssh_tailscaled_restart() {
  ssh_service_active_then ct 'systemctl restart tailscaled' || return 0
  expect_within 30 "tswatchdog saw the address come back" \
    "journalctl --after-cursor='$cursor' -o cat -u tswatchdog | grep -q 'Tailscale address'"
  watchdog_settled "tailscaled restarted"
  ssh_still_behind_socket "tailscaled restarted"
}

case_ssh_after_recovery() {
  ssh_service_active_then fake_ctl stuck start || return 0
  expect_within 30 "tswatchdog recovered tailscaled" \
    "journalctl --after-cursor='$cursor' -o cat -u tswatchdog | grep -q 'recovered by start'"
  watchdog_settled "after the recovery"
  ssh_still_behind_socket "after the recovery"
}
