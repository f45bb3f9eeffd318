#!/bin/sh
# The kind of watchdog people run instead of tswatchdog (a loop in a systemd
# service or a cron job): every N seconds run `tailscale status` and, when it
# fails or says this node is offline, act.
#   poll_watchdog.sh SOCKET N                  act = POST start (benchmark 1)
#   poll_watchdog.sh SOCKET N RESTART_COMMAND  act = restart tailscaled (time to heal)
#
# `tailscale status` is imitated the way the real CLI decides
# (tailscale cmd/tailscale/cli/status.go): it exits 1 when the LocalAPI does
# not answer or BackendState is neither Running nor Starting
# (isRunningOrStarting: Stopped, NeedsLogin, NeedsMachineAuth, NoState), and
# otherwise prints this node's line, which says "offline" when Self.Online is
# false. The popular scripts restart on either.
socket=$1
interval=$2
restart=$3
api=http://local-tailscaled.sock/localapi/v0

# Prints "ok" or why the node counts as down.
status() {
  st=$(curl -sf --max-time 10 --unix-socket "$socket" "$api/status?peers=false") ||
    { echo "no answer"; return; }
  state=$(printf '%s\n' "$st" | sed -n 's/^\t"BackendState": "\([A-Za-z]*\)".*/\1/p')
  case "$state" in
  Running | Starting) ;;
  *) echo "state ${state:-unknown}"; return ;;
  esac
  # With peers=false only Self has an "Online" field.
  if printf '%s\n' "$st" | grep -q '"Online": true'; then
    echo ok
  else
    echo offline
  fi
}

while :; do
  sleep "$interval"
  why=$(status)
  [ "$why" = ok ] && continue
  if [ -n "$restart" ]; then
    echo "poll_watchdog: $why: restarting tailscaled" >&2
    sh -c "$restart"
  else
    curl -sf --unix-socket "$socket" -X POST -H 'Content-Type: application/json' \
      -d '{}' "$api/start" >/dev/null
  fi
done
