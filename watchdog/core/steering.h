// Mode-A steering (pure plan): when mwan3 says the WAN that the main table's
// default route uses is offline, steer tailscaled's own traffic to a WAN
// mwan3 says is online, with the smallest change that tailscaled notices.
//
// Why this change. In mode A tailscaled's rule `1310: fwmark 0x80000/0xff0000
// lookup main` sends all of its traffic to the main table, before mwan3's
// rules, and mwan3's `disconnected` leaves the main table alone
// (lib/mwan3/mwan3.sh): tailscaled stays on the dead WAN for as long as it
// is dead. What tailscaled watches is its "default route interface"
// (net/netmon/interfaces_linux.go: the first line of /proc/net/route with
// destination and mask 00000000, skipping tailscale*/wg* devices; the main
// table, where the kernel lists a prefix's routes lowest metric first; a
// netlink dump of all routes only when /proc/net/route has no default).
// When that interface changes, netmon reports DefaultInterfaceChanged:
// tsdial closes the control connection (net/tsdial/tsdial.go,
// changeAffectsConn) and magicsock rebinds, and tailscaled redials at once.
// So one route does both jobs: a main-table default via the live WAN with a
// metric one below the dead WAN's. Rule 1310 then resolves tailscaled's new
// connections through it, and /proc/net/route lists it first. Nothing else
// is touched: the dead WAN's route, mwan3's tables and rules stay as they
// are, and LAN traffic that mwan3 marks keeps following mwan3's policy.
// This is what users do by hand (tailscale #13357).
//
// Ours are found exactly by their protocol number (rtm_protocol
// kSteeringProtocol), never by shape; the plan only ever removes those.
#ifndef TSWATCHDOG_WATCHDOG_CORE_STEERING_H_
#define TSWATCHDOG_WATCHDOG_CORE_STEERING_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlink/address.h"
#include "netlink/messages.h"
#include "netlink/model.h"
#include "watchdog/core/mwan3.h"

namespace watchdog {

// The route protocol that marks our routes. Unused by iproute2's
// /etc/iproute2/rt_protos (0-4, 8-18, 42, 99, 186-189, 192), by FRR's
// extensions (193-198) and by OpenWrt's netifd (static unless a route sets
// `proto`); `ip route show proto 122` lists ours.
inline constexpr uint8_t kSteeringProtocol = 122;

// A main-table default route that we want.
struct SteeringRoute {
  netlink::Family family = netlink::Family::kV4;
  int32_t oif = 0;
  std::string dev;
  std::optional<netlink::IpAddress> gateway;
  uint32_t metric = 0;
  bool operator==(const SteeringRoute&) const = default;
  std::string ToString() const;  // "default via GW dev DEV metric M"
};

struct SteeringPlan {
  std::vector<netlink::RouteMessage> remove;  // ours, as the kernel has them
  std::optional<SteeringRoute> add;
  std::optional<SteeringRoute> keep;  // ours, already as wanted
  std::string why;
  bool changes() const { return !remove.empty() || add.has_value(); }
};

struct SteeringInput {
  netlink::Family family = netlink::Family::kV4;
  bool enabled = true;  // the config key; off: remove ours, add nothing
  std::vector<netlink::RouteMessage> routes;  // every table (Model::routes)
  std::map<int32_t, netlink::Link> links;     // Model::links
  Mwan3View mwan3;
};

// Our routes among `routes`: main-table defaults with our protocol.
std::vector<netlink::RouteMessage> OwnSteeringRoutes(
    std::span<const netlink::RouteMessage> routes);

SteeringPlan PlanSteering(const SteeringInput& input);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_STEERING_H_
