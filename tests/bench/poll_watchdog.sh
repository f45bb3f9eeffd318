#!/bin/sh
# The kind of watchdog people run instead of tswatchdog (a loop in a systemd
# service or cron job): every N seconds ask tailscaled for its status and, if
# this node is not online, tell it to start again.
#   poll_watchdog.sh SOCKET N
# Benchmark 1 compares its reaction time with tswatchdog's.
socket=$1
interval=$2
api=http://local-tailscaled.sock/localapi/v0
while :; do
  sleep "$interval"
  # status?peers=false is tab-indented JSON; with peers=false only Self has
  # an "Online" field.
  if ! curl -sf --unix-socket "$socket" "$api/status?peers=false" |
    grep -q '"Online": true'; then
    curl -sf --unix-socket "$socket" -X POST -H 'Content-Type: application/json' \
      -d '{}' "$api/start" >/dev/null
  fi
done
