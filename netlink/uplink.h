// The uplink view (egress per family) and the pure delta between two views.
// Like tailscale's netmon.NewChangeDelta: no I/O, table-tested.
#ifndef TSWATCHDOG_NETLINK_UPLINK_H_
#define TSWATCHDOG_NETLINK_UPLINK_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/egress.h"

namespace netlink {

struct UplinkView {
  Egress v4;
  Egress v6;

  const Egress& Get(Family family) const {
    return family == Family::kV4 ? v4 : v6;
  }
  Egress& Get(Family family) { return family == Family::kV4 ? v4 : v6; }
  bool AnyUsable() const { return v4.usable() || v6.usable(); }
  bool operator==(const UplinkView&) const = default;
};

enum class Reason {
  kUplinkAppeared,
  kUplinkLost,
  kDeviceChanged,
  kGatewayChanged,
  kSourceChanged,
  kCarrierChanged,
};
std::string_view ReasonName(Reason reason);  // "uplink-appeared", ...

struct FamilyReason {
  Family family;
  Reason reason;
  std::string ToString() const;  // "v4:device-changed"
  bool operator==(const FamilyReason&) const = default;
};

struct UplinkChange {
  UplinkView old_view;
  UplinkView new_view;
  std::vector<FamilyReason> reasons;  // never empty
  std::string ReasonsString() const;  // "v4:device-changed,v4:gateway-changed"
};

// The reasons one family's egress changed for; empty when nothing that matters
// to tailscaled changed (for example only the routing table that holds the
// route, or a route appearing on a device that still has no carrier).
std::vector<FamilyReason> DiffEgress(Family family, const Egress& before,
                                     const Egress& after);

// A change when any family has a reason, else nullopt.
std::optional<UplinkChange> ComputeUplinkChange(const UplinkView& before,
                                                const UplinkView& after);

// "dev wan0 via 198.51.100.1 src 198.51.100.2 carrier up" or "none (...)".
std::string DescribeEgress(const Egress& egress);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_UPLINK_H_
