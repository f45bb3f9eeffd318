// The effective egress: which device, gateway and source address the kernel
// would use for one of tailscaled's own packets to the internet. We ask the
// kernel (RTM_GETROUTE for a probe destination, carrying tailscaled's bypass
// fwmark) instead of reading "the main table's default route", so policy
// routing (mwan3), split defaults (0.0.0.0/1 + 128.0.0.0/1) and metric changes
// are all seen. The lookup sends no packet.
#ifndef TSWATCHDOG_NETLINK_EGRESS_H_
#define TSWATCHDOG_NETLINK_EGRESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netlink/address.h"
#include "netlink/messages.h"
#include "netlink/model.h"

namespace netlink {

// tailscaled marks its own sockets with this fwmark so that they bypass its
// routing table 52 (tailscale net/netns, linuxfw: TailscaleBypassMark).
inline constexpr uint32_t kTailscaleBypassMark = 0x80000;

// Probe destinations for the lookup. Documentation addresses (RFC 5737, RFC
// 3849): no routing daemon carries a specific route for them, so the lookup
// follows whatever carries "the internet" (default, split default, policy
// rule). Only the kernel's FIB is consulted; nothing is ever sent to them.
IpAddress DefaultProbe(Family family);

struct Egress {
  bool present = false;  // the kernel has a route for the probe
  int32_t ifindex = 0;
  std::string dev;
  std::optional<IpAddress> gateway;
  std::optional<IpAddress> source;
  uint32_t table = 0;
  bool link_up = false;
  bool carrier = false;        // IFF_LOWER_UP on the egress device
  bool source_usable = false;  // global, neither tentative nor dadfailed
  bool via_tailscale = false;  // resolved into tailscaled's own interface
  int lookup_error = 0;        // errno of a failed lookup (ENETUNREACH, ...)

  // Usable: a route, an up device with carrier, and a usable source address.
  bool usable() const {
    return present && link_up && carrier && source.has_value() &&
           source_usable && !via_tailscale;
  }
  bool operator==(const Egress&) const = default;
};

// The answer to one RTM_GETROUTE query: a route, or a negative errno.
struct RouteLookup {
  int error = 0;
  std::optional<RouteMessage> route;
};

// Encodes the RTM_GETROUTE request for `probe` (libmnl).
std::vector<uint8_t> BuildRouteQuery(const IpAddress& probe, uint32_t fwmark,
                                     uint32_t seq);

// Finds the reply to request `seq` among parsed messages. Returns nullopt while
// no reply for `seq` has been seen.
std::optional<RouteLookup> FindRouteReply(const std::vector<Message>& messages,
                                          uint32_t seq);

// Combines the kernel's answer with the model's link and address state.
Egress MakeEgress(const RouteLookup& lookup, const Model& model);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_EGRESS_H_
