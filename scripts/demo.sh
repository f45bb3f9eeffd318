#!/usr/bin/env bash
# Live demo of a WAN failover on a dual-WAN router, in a throw-away network
# namespace (unshare --net: it vanishes with the demo):
#   1. `tswatchdog monitor` shows the uplink tracker on its own;
#   2. `tswatchdog run` against the fake tailscaled on real sockets (time
#      scale 0.05), through a silent mwan3-style failover that tailscaled
#      does not notice: its control connection stays dead until `start`. The
#      watchdog kicks (rebind), sees the warning when it reaches the bus,
#      climbs its ladder and recovers it; a timeline is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target tswatchdog fake_tailscaled
work=$(mktemp -d /tmp/tswatchdog-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

exec unshare --net bash -s "$(realpath build/tswatchdog)" \
  "$(realpath build/tests/fake_tailscaled)" "$work" <<'EOS'
set -euo pipefail
tswatchdog=$1 fake=$2 work=$3
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ip link set lo up
ip link add wan0 type veth peer name isp0
ip link add wan1 type veth peer name isp1
ip addr add 198.51.100.2/24 dev wan0
ip addr add 203.0.113.2/24 dev wan1
for d in isp0 isp1 wan0 wan1; do ip link set $d up; done
ip route add default via 198.51.100.1 dev wan0 metric 100
ip route add default via 203.0.113.1 dev wan1 metric 200
echo "lab: wan0 198.51.100.2 (gw .1, metric 100), wan1 203.0.113.2 (gw .1, metric 200)"

bold "Part 1: tswatchdog monitor (the uplink tracker alone)"
"$tswatchdog" monitor & monitor=$!
sleep 1
bold "WAN failover: wan0's default route disappears"
ip route del default via 198.51.100.1 dev wan0 metric 100; sleep 1
bold "wan0 back; then mwan3-style policy failover (main table untouched)"
ip route add default via 198.51.100.1 dev wan0 metric 100
ip route add default via 203.0.113.1 dev wan1 table 2
ip rule add fwmark 0x80000/0xff0000 lookup 2 pref 1000; sleep 1
ip rule del pref 1000; sleep 1
bold "tailscaled's own changes (tailscale0, table 52): no event"
ip tuntap add dev tailscale0 mode tun; ip link set tailscale0 up
ip addr add 100.101.102.103/32 dev tailscale0
ip route add 100.64.0.0/10 dev tailscale0 table 52; sleep 1
ip link del tailscale0
kill $monitor; wait $monitor 2>/dev/null || true

bold "Part 2: tswatchdog run vs a tailscaled on real sockets (time scale 0.05: 20x faster)"
# The internet: a namespace of its own behind isp0 and isp1, holding the
# control and DERP servers; the fake tailscaled dials them from here.
unshare --net sleep 100000 & inet=$!
until [[ $(readlink /proc/$inet/ns/net) != $(readlink /proc/self/ns/net) ]]; do sleep 0.05; done
ip link set isp0 netns $inet; ip link set isp1 netns $inet
nsenter -t $inet -n sh -ec '
  ip link set lo up
  ip addr add 198.51.100.1/24 dev isp0; ip addr add 203.0.113.1/24 dev isp1
  ip link set isp0 up; ip link set isp1 up
  ip addr add 192.0.2.10/32 dev lo; ip addr add 192.0.2.20/32 dev lo'
ip route replace default via 198.51.100.1 dev wan0 metric 100
ip route replace default via 203.0.113.1 dev wan1 metric 200
nsenter -t $inet -n "$fake" internet --control 192.0.2.10:80 --derp 192.0.2.20:443 \
  --time-scale 0.05 --events "$work/internet.jsonl" 2>/dev/null &
servers=$!
until grep -q '"ready"' "$work/internet.jsonl" 2>/dev/null; do sleep 0.1; done
"$fake" serve --socket "$work/ts.sock" --control "$work/ctl.sock" \
  --log "$work/requests.jsonl" --pid-file "$work/fake.pid" \
  --control-server 192.0.2.10:80 --derp-server 192.0.2.20:443 \
  --time-scale 0.05 --events "$work/events.jsonl" 2>/dev/null &
fake_pid=$!
until grep -q '"online","value":true' "$work/events.jsonl" 2>/dev/null; do sleep 0.1; done
echo "tailscaled (fake) online: control and DERP connections from wan0 to 192.0.2.10/.20"
cat > "$work/tswatchdog.toml" <<TOML
socket = "$work/ts.sock"
state_file = "$work/state.json"
debounce = "1s"
grace = "3s"
verify = "3s"
unhealthy_after = "5s"
backoff_initial = "1s"
restart_command = ["kill", "-HUP", "$fake_pid"]
TOML
echo "config (short timings for the demo):"; sed 's/^/  /' "$work/tswatchdog.toml"
"$tswatchdog" run --config "$work/tswatchdog.toml" 2> >(sed 's/^/  tswatchdog| /' >&2) &
daemon=$!
until grep -q '"state": "healthy"' "$work/state.json" 2>/dev/null; do sleep 0.2; done
bold "mwan3-style failover: wan0's upstream dies silently; a rule sends marked traffic to wan1"
t0=$(date +%s.%N)
nsenter -t $inet -n sh -ec '
  nft add table inet demo
  nft add chain inet demo in "{ type filter hook prerouting priority -300; }"
  nft add chain inet demo out "{ type filter hook output priority -300; }"
  nft add rule inet demo in iifname isp0 drop
  nft add rule inet demo out oifname isp0 drop'
ip rule add fwmark 0x80000/0xff0000 lookup 2 pref 1000
until grep -q '"recoveries": 1' "$work/state.json" 2>/dev/null; do sleep 0.2; done
sleep 0.5
bold "tswatchdog status"
"$tswatchdog" status --state-file "$work/state.json"
kill $daemon; wait $daemon 2>/dev/null || true
kill $fake_pid $servers; wait $fake_pid $servers 2>/dev/null || true
kill $inet; wait $inet 2>/dev/null || true
sleep 0.5  # the daemon's last log lines, through sed

bold "Timeline after the failover: what tailscaled did (its events) and was asked (its request log)"
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2"; }
{
  while IFS= read -r line; do
    ms=$(field unix_ms "$line")
    case $(field event "$line") in
      online) echo "$ms tailscaled: Self.Online $(field value "$line") ($(field why "$line"))" ;;
      health) echo "$ms tailscaled: Notify.Health on the bus: $(sed -n 's/.*"visible":\(\[[^]]*\]\).*/\1/p' <<<"$line")" ;;
      control-dial) echo "$ms tailscaled: control dial from $(field local "$line")" ;;
      derp-connected) echo "$ms tailscaled: DERP connected from $(field local "$line")" ;;
    esac
  done < "$work/events.jsonl"
  while IFS= read -r line; do
    [[ $(field method "$line") == GET ]] && continue
    echo "$(field unix_ms "$line") asked: $(field method "$line") $(field target "$line") -> $(field status "$line")"
  done < "$work/requests.jsonl"
} | sort -n | while read -r ms what; do
  rel=$(awk -v ms="$ms" -v t0="$t0" 'BEGIN { printf "%+.2f", ms / 1000 - t0 }')
  (( $(awk -v r="$rel" 'BEGIN { print (r >= 0) }') )) || continue
  printf '  %7ss  %s\n' "$rel" "$what"
done
echo
echo "demo done: tailscaled noticed nothing (its Online went false only in GET status, when"
echo "its 120 s watchdog fired: 6 s here); the kick (rebind) could not help; once a warning"
echo "reached the bus, tswatchdog's ladder got to start, which replaced the dead connection."
EOS
