# The shipped unit under a real systemd 252: readiness, STATUS=, the
# watchdog, the sandbox, the state directory, the journal, reload, the
# restart policy. Sourced by run_case.sh; each case_NAME is one ctest test.
# shellcheck shell=bash

# Short timings, so a ladder runs in seconds; every key exists in the
# README's table.
fast_config() {
  cat <<'EOF'
debounce = "500ms"
grace = "1s"
verify = "1s"
unhealthy_after = "1s"
backoff_initial = "500ms"
backoff_max = "2s"
EOF
}

# start -> active only once READY=1 came (Type=notify), with STATUS= text.
case_start_ready() {
  install_package || return
  start_watchdog || return
  check "the unit is Type=notify with the watchdog" \
    '[ "$(systemctl show -p Type --value tswatchdog)" = notify ] &&
     [ "$(systemctl show -p WatchdogUSec --value tswatchdog)" = 30s ]'
  check "active (running) after systemctl start" \
    '[ "$(systemctl show -p ActiveState,SubState --value tswatchdog | paste -sd/)" = active/running ]'
  # ExecMainStartTimestamp is the fork, ActiveEnterTimestamp the READY=1.
  ct 'set -- $(systemctl show -p ExecMainStartTimestampMonotonic \
         -p ActiveEnterTimestampMonotonic --value tswatchdog)
      echo "figure: exec -> READY=1: $(( ($2 - $1) / 1000 )) ms"'
  expect_within 10 "STATUS= names the state, tailscaled's verdict and the uplink" \
    'systemctl show -p StatusText --value tswatchdog |
       grep -E "^(healthy|verifying); tailscale healthy; uplink wan0$"'
  ct 'echo "figure: StatusText: $(systemctl show -p StatusText --value tswatchdog)"'
  expect_within 10 "tswatchdog status reads the state file" \
    'tswatchdog status | grep -E "^state: +(healthy|verifying)"'
}

# A wedged loop (SIGSTOP) stops the WATCHDOG=1 pings: systemd aborts the
# daemon after WatchdogSec and Restart= brings it back. WatchdogSec is 30 s
# in the unit; a drop-in scales it to 2 s here.
case_watchdog_restart() {
  install_package || return
  ct 'mkdir -p /etc/systemd/system/tswatchdog.service.d
      printf "[Service]\nWatchdogSec=2s\n" >/etc/systemd/system/tswatchdog.service.d/lab.conf
      systemctl daemon-reload'
  start_watchdog || return
  local pid t0 t1
  pid=$(main_pid)
  t0=$(now_ms)
  ct "kill -STOP $pid"
  expect_within 30 "restarted with a new process after the watchdog fired" \
    "[ \"\$(systemctl show -p MainPID --value tswatchdog)\" != $pid ] &&
     systemctl is-active -q tswatchdog"
  t1=$(now_ms)
  figure "SIGSTOP -> active again: $((t1 - t0)) ms (WatchdogSec=2s, RestartSec=5s)"
  check "systemd says it was the watchdog" \
    'journalctl -b -o cat -u tswatchdog | grep -q "Watchdog timeout" &&
     journalctl -b -o cat -u tswatchdog | grep -q "Failed with result .watchdog."'
  if ((t1 - t0 >= 2000)); then pass "not before WatchdogSec"; else fail "restarted after $((t1 - t0)) ms < 2 s"; fi
}

# Every job the daemon has, under the shipped sandbox: LocalAPI writes, the
# conntrack step's ctnetlink dump, restart_command and restart_on_ip
# (systemctl over D-Bus), a hook, the state and metrics files. And nothing
# under /run but /run/tswatchdog is writable. (No `reup` in the ladder: the
# daemon takes its own WantRunning=false for the user's intent, goes
# `suppressed` and starts the ladder over.)
case_hardening() {
  install_package || return
  ct 'mkdir -p /etc/tswatchdog/hooks.d /etc/systemd/system/ssh.socket.d
      printf "#!/bin/sh\necho \"\$TSWATCHDOG_EVENT \$TSWATCHDOG_STEP\" >>/run/tswatchdog/hooks.log\n" \
        >/etc/tswatchdog/hooks.d/10-log
      chmod 0755 /etc/tswatchdog/hooks.d/10-log
      cp /usr/share/doc/tswatchdog/examples/ssh.socket.d/10-tailscale-freebind.conf \
        /etc/systemd/system/ssh.socket.d/
      printf "[Socket]\nListenStream=\nListenStream=100.64.0.1:22\n" \
        >/etc/systemd/system/ssh.socket.d/20-tailscale-address.conf
      systemctl disable -q --now ssh.service; systemctl daemon-reload
      systemctl enable -q --now ssh.socket'
  {
    fast_config
    cat <<'EOF'
ladder = ["rebind", "conntrack", "start", "restart"]
restart_on_ip = ["ssh.socket"]
hooks_dir = "/etc/tswatchdog/hooks.d"
metrics_file = "/run/tswatchdog/metrics.prom"
EOF
  } | write_config
  start_watchdog || return
  expect_within 15 "healthy first" 'tswatchdog status | grep -q "^state: *healthy"'
  # A failover to a new uplink address (the old one becomes the conntrack
  # step's business), and tailscaled stuck until `start`: rebind, the
  # conntrack step, start.
  fake_ctl stuck start
  ct 'ip addr add 203.0.113.2/24 dev wan0 &&
      ip route replace default via 203.0.113.1 dev wan0 src 203.0.113.2 &&
      ip addr del 198.51.100.2/24 dev wan0'
  expect_within 60 "recovered by the start step" \
    'journalctl -b -o cat -u tswatchdog | grep -q "recovered by start"'
  check "LocalAPI writes were answered, not refused" \
    'grep -q "\"target\":\"/localapi/v0/debug?action=rebind\".*\"status\":200" /run/fake-tailscaled.jsonl &&
     grep -q "\"target\":\"/localapi/v0/start\".*\"status\":204" /run/fake-tailscaled.jsonl'
  check "the conntrack step dumped the table over ctnetlink" \
    'journalctl -b -o cat -u tswatchdog | grep -q "no conntrack entry is bound to an old address"'
  expect_within 10 "restart_on_ip: systemctl start ssh.socket worked" \
    'journalctl -b -o cat -u tswatchdog | grep -q "restart_on_ip: ssh.socket is up"'
  expect_within 10 "the hooks ran" 'grep -q "^recovered start" /run/tswatchdog/hooks.log'
  check "the metrics file was written" \
    'grep -q "^tswatchdog_recoveries_total 1" /run/tswatchdog/metrics.prom'
  # Then a tailscaled whose LocalAPI hangs, found at the next uplink change
  # (SIGUSR1, mwan3's hint): only restart_command helps.
  local ts_pid
  ts_pid=$(main_pid tailscaled)
  fake_ctl hang on
  ct 'systemctl kill -s USR1 tswatchdog'
  expect_within 60 "recovered by the restart step" \
    'journalctl -b -o cat -u tswatchdog | grep -q "recovered by restart"'
  check "tailscaled was restarted (systemctl under the sandbox)" \
    "[ \"\$(systemctl show -p MainPID --value tailscaled)\" != $ts_pid ]"
  check "no permission error in the log" \
    '! journalctl -b -o cat -u tswatchdog |
       grep -iE "permission denied|read-only file system|operation not permitted"'
  # The sandbox's mounts, as the daemon sees them.
  local pid
  pid=$(main_pid)
  check "/run/tswatchdog is writable in the sandbox" \
    "nsenter -t $pid -m sh -c 'touch /run/tswatchdog/.w && rm /run/tswatchdog/.w'"
  local dir
  for dir in /run /run/tailscale /run/systemd /run/lock; do
    check "$dir is read-only in the sandbox" \
      "! nsenter -t $pid -m sh -c 'touch $dir/.tswatchdog-w' 2>/dev/null"
  done
  ct 'echo "figure: $(systemd-analyze security tswatchdog.service --no-pager | tail -n 1)"'
}

# RuntimeDirectoryPreserve=: the state file outlives the daemon, so
# `tswatchdog status` can say the daemon is gone.
case_state_survives_stop() {
  install_package || return
  start_watchdog || return
  expect_within 10 "state file written" 'test -s /run/tswatchdog/state.json'
  local pid
  pid=$(main_pid)
  ct 'systemctl stop tswatchdog'
  check "the state file is still there after systemctl stop" 'test -s /run/tswatchdog/state.json'
  check "status says the daemon is gone" \
    "tswatchdog status | grep -q 'not running (pid $pid is gone)'"
  start_watchdog || return
  expect_within 10 "a new daemon takes the file over" \
    "grep -q '\"pid\": *$(main_pid)' /run/tswatchdog/state.json"
}

# journald records each line at its own priority, from the "<N>" prefixes.
case_journal_priorities() {
  install_package || return
  start_watchdog || return
  expect_within 10 "a state change at info (6)" \
    'journalctl -b -u tswatchdog -p 6..6 -o cat | grep -q "^state starting -> "'
  fake_ctl cut-now
  expect_within 10 "a cut bus stream at warning (4)" \
    'journalctl -b -u tswatchdog -p 4..4 -o cat | grep -q .'
  check "no raw <N> prefix reached the journal" \
    '! journalctl -b -u tswatchdog -o cat | grep -q "^<[0-9]>"'
}

# A config the daemon rejects at start: exit 2, logged at err (3) so
# `journalctl -p err` shows why, and not retried (RestartPreventExitStatus=2).
case_config_error_at_start() {
  install_package || return
  echo 'grace = 5' | write_config
  check "systemctl start fails" '! systemctl start tswatchdog 2>/dev/null'
  expect_within 5 "the unit is failed, not waiting to restart" \
    '[ "$(systemctl show -p ActiveState,SubState --value tswatchdog | paste -sd/)" = failed/failed ]'
  check "exit status 2, no automatic restart" \
    '[ "$(systemctl show -p ExecMainStatus --value tswatchdog)" = 2 ] &&
     [ "$(systemctl show -p NRestarts --value tswatchdog)" = 0 ]'
  check "the reason is in journalctl -p err, with file and line" \
    'journalctl -b -u tswatchdog -p 3 -o cat | grep -q "/etc/tswatchdog/tswatchdog.toml:1"'
}

# systemctl reload: a good config is applied, a bad one makes the reload fail
# and the daemon keeps running with the old one.
case_reload() {
  install_package || return
  start_watchdog || return
  local pid
  pid=$(main_pid)
  echo 'log_level = "debug"' | write_config
  check "reload with a good config succeeds" 'systemctl reload tswatchdog'
  expect_within 5 "the daemon applied it" \
    'journalctl -b -u tswatchdog -o cat | grep -q "SIGHUP: config reloaded"'
  echo 'grace = 5' | write_config
  check "reload with a bad config fails" '! systemctl reload tswatchdog 2>/dev/null'
  check "the daemon still runs, unrestarted" \
    "systemctl is-active -q tswatchdog && [ \"\$(systemctl show -p MainPID --value tswatchdog)\" = $pid ]"
  check "the reason names the file, line and key" \
    'journalctl -b -u tswatchdog -o cat | grep -q "tswatchdog.toml:1.*grace"'
}

# An admin's restarts are not a crash loop: they must never hit the start
# limit.
case_start_limit() {
  install_package || return
  start_watchdog || return
  local i ok=0
  for i in 1 2 3 4 5 6 7 8; do
    ct 'systemctl restart tswatchdog 2>/dev/null' && ok=$((ok + 1))
  done
  if ((ok == 8)); then pass "8 manual restarts in a row"; else fail "only $ok of 8 manual restarts worked"; fi
  check "active after them" 'systemctl is-active -q tswatchdog'
}
