#!/usr/bin/env bash
# Re-records the datagrams in this folder from the real kernel, inside a
# throw-away network namespace. Usage (as root):
#   bash tests/data/netlink/record.sh build/tests/netlink_recorder
set -euo pipefail
recorder=$(realpath "$1")
out=$(dirname "$(realpath "$0")")
exec unshare --net bash -s "$recorder" "$out" <<'EOS'
set -euo pipefail
recorder=$1 out=$2
ip link set lo up
ip link add wan0 type veth peer name isp0
ip link add wan1 type veth peer name isp1
ip addr add 198.51.100.2/24 dev wan0
ip addr add 203.0.113.2/24 dev wan1
for d in isp0 isp1 wan0 wan1; do ip link set $d up; done
ip -6 addr add 2001:db8:a::2/64 dev wan0 nodad
ip -6 addr add 2001:db8:b::2/64 dev wan1 nodad
ip route add default via 198.51.100.1 dev wan0 metric 100
ip -6 route add default via 2001:db8:a::1 dev wan0 metric 100
ip rule add fwmark 0x80000/0xff0000 lookup main pref 5210
hdr="# recorded by record.sh on Linux $(uname -r); one datagram per line"
for what in links addrs routes-v4 routes-v6 rules; do
  { echo "$hdr"; "$recorder" dump $what; } > "$out/dump-$what.hex"
done
{ echo "$hdr"; "$recorder" events 4; } > "$out/events.hex" 2>/dev/null &
while ! [ -s "$out/events.hex" ] || [ "$(wc -l < "$out/events.hex")" -lt 1 ]; do :; done
ip route replace default via 203.0.113.1 dev wan1 metric 100
ip link set isp0 down
ip addr add 198.51.100.77/24 dev wan0
ip rule add fwmark 0x100/0x3f00 lookup 1 pref 2001
wait
EOS
