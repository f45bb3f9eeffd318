#!/usr/bin/env bash
# Live demo: builds tswatchdog, then runs `tswatchdog monitor` inside a
# throw-away network namespace (unshare --net: it vanishes with the demo) in
# which the uplink moves between two WANs in every way the tracker knows.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target tswatchdog
binary=$(realpath build/tswatchdog)

exec unshare --net bash -s "$binary" <<'EOS'
set -euo pipefail
binary=$1
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; sleep 1; }
ip link set lo up
ip link add wan0 type veth peer name isp0
ip link add wan1 type veth peer name isp1
ip addr add 198.51.100.2/24 dev wan0
ip addr add 203.0.113.2/24 dev wan1
for d in isp0 isp1 wan0 wan1; do ip link set $d up; done
ip route add default via 198.51.100.1 dev wan0 metric 100
ip route add default via 203.0.113.1 dev wan1 metric 200

echo "lab: wan0 198.51.100.2 (gw .1, metric 100), wan1 203.0.113.2 (gw .1, metric 200)"
"$binary" monitor &
monitor=$!
trap 'kill $monitor 2>/dev/null; wait $monitor 2>/dev/null' EXIT
sleep 1
step "WAN failover: wan0's default route disappears"
ip route del default via 198.51.100.1 dev wan0 metric 100
step "wan0 is back with the better metric"
ip route add default via 198.51.100.1 dev wan0 metric 100
step "carrier loss on wan0 (the modem side goes down)"
ip link set isp0 down
step "carrier back"
ip link set isp0 up
step "new DHCP lease on wan0"
sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1
ip addr add 198.51.100.77/24 dev wan0
ip addr del 198.51.100.2/24 dev wan0
step "mwan3-style policy failover: main table untouched, a fwmark rule moves tailscaled's traffic to wan1"
ip route add default via 203.0.113.1 dev wan1 table 2
ip rule add fwmark 0x80000/0xff0000 lookup 2 pref 1000
step "tailscaled's own changes (tailscale0, table 52): no event"
ip tuntap add dev tailscale0 mode tun
ip link set tailscale0 up
ip addr add 100.101.102.103/32 dev tailscale0
ip route add 100.64.0.0/10 dev tailscale0 table 52
step "policy rule removed: back on wan0"
ip rule del fwmark 0x80000/0xff0000 lookup 2 pref 1000
sleep 1
echo
echo "demo done (the namespace disappears now)"
EOS
