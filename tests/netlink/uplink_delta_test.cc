#include <gtest/gtest.h>

#include <cerrno>

#include "netlink/uplink.h"

namespace netlink {
namespace {

Egress Up(const char* dev, int index, const char* gw, const char* src) {
  Egress e;
  e.present = true;
  e.ifindex = index;
  e.dev = dev;
  if (gw) e.gateway = IpAddress::Parse(gw);
  if (src) e.source = IpAddress::Parse(src);
  e.table = 254;
  e.link_up = true;
  e.carrier = true;
  e.source_usable = true;
  return e;
}

Egress None() {
  Egress e;
  e.lookup_error = ENETUNREACH;  // 101 on most ABIs, 128 on MIPS
  return e;
}

Egress With(Egress e, void (*change)(Egress&)) {
  change(e);
  return e;
}

struct DeltaCase {
  const char* name;
  Egress before;
  Egress after;
  std::vector<Reason> want;
};

// Table-driven, like tailscale's TestRebindRequired: no sockets, no clocks.
TEST(UplinkDelta, Table) {
  const Egress wan0 = Up("wan0", 2, "198.51.100.1", "198.51.100.2");
  const Egress wan1 = Up("wan1", 3, "203.0.113.1", "203.0.113.2");
  const std::vector<DeltaCase> cases = {
      {"nothing changed", wan0, wan0, {}},
      {"only the routing table holding the route moved (policy routing, same "
       "path)",
       wan0,
       With(wan0, [](Egress& e) { e.table = 1; }),
       {}},
      {"failover to another WAN",
       wan0,
       wan1,
       {Reason::kDeviceChanged, Reason::kGatewayChanged,
        Reason::kSourceChanged}},
      {"new gateway on the same device",
       wan0,
       Up("wan0", 2, "198.51.100.254", "198.51.100.2"),
       {Reason::kGatewayChanged}},
      {"new DHCP lease on the same device",
       wan0,
       Up("wan0", 2, "198.51.100.1", "198.51.100.3"),
       {Reason::kSourceChanged}},
      {"carrier lost",
       wan0,
       With(wan0, [](Egress& e) { e.carrier = false; }),
       {Reason::kUplinkLost, Reason::kCarrierChanged}},
      {"carrier back",
       With(wan0, [](Egress& e) { e.carrier = false; }),
       wan0,
       {Reason::kUplinkAppeared, Reason::kCarrierChanged}},
      {"route gone", wan0, None(), {Reason::kUplinkLost}},
      {"late interface: route appears",
       None(),
       wan0,
       {Reason::kUplinkAppeared}},
      {"route appears on a device without carrier: nothing usable yet",
       None(),
       With(wan0, [](Egress& e) { e.carrier = false; }),
       {}},
      {"dead route moves between dead devices",
       With(wan0, [](Egress& e) { e.carrier = false; }),
       With(wan1, [](Egress& e) { e.carrier = false; }),
       {}},
      {"source becomes tentative",
       wan0,
       With(wan0, [](Egress& e) { e.source_usable = false; }),
       {Reason::kUplinkLost}},
      {"no source address at all",
       wan0,
       With(wan0, [](Egress& e) { e.source.reset(); }),
       {Reason::kUplinkLost, Reason::kSourceChanged}},
      {"resolves into tailscale0",
       wan0,
       With(Up("tailscale0", 9, nullptr, "100.64.0.1"),
            [](Egress& e) { e.via_tailscale = true; }),
       {Reason::kUplinkLost, Reason::kDeviceChanged, Reason::kGatewayChanged,
        Reason::kSourceChanged}},
      {"both absent, different errors",
       None(),
       With(None(), [](Egress& e) { e.lookup_error = 13; }),
       {}},
  };
  for (const DeltaCase& c : cases) {
    std::vector<FamilyReason> got = DiffEgress(Family::kV4, c.before, c.after);
    std::vector<FamilyReason> want;
    for (Reason r : c.want) want.push_back({Family::kV4, r});
    EXPECT_EQ(got, want) << c.name;
  }
}

TEST(UplinkDelta, ChangeCarriesBothFamiliesAndBothViews) {
  UplinkView before{Up("wan0", 2, "198.51.100.1", "198.51.100.2"),
                    Up("wan0", 2, "fe80::1", "2001:db8:a::2")};
  UplinkView after{Up("wan1", 3, "203.0.113.1", "203.0.113.2"), None()};
  auto change = ComputeUplinkChange(before, after);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(),
            "v4:device-changed,v4:gateway-changed,v4:source-changed,"
            "v6:uplink-lost");
  EXPECT_EQ(change->old_view, before);
  EXPECT_EQ(change->new_view, after);
  EXPECT_FALSE(ComputeUplinkChange(after, after));
}

TEST(UplinkDelta, Describe) {
  EXPECT_EQ(DescribeEgress(Up("wan0", 2, "198.51.100.1", "198.51.100.2")),
            "dev wan0 via 198.51.100.1 src 198.51.100.2 carrier up [usable]");
  EXPECT_EQ(DescribeEgress(None()), "none (Network is unreachable)");
}

}  // namespace
}  // namespace netlink
