#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_addr.h>

#include <cerrno>
#include <climits>

#include "netlink/egress.h"
#include "netlink/model.h"
#include "netlink/parser.h"
#include "tests/netlink/netlink_builder.h"

namespace netlink {
namespace {

namespace nt = netlink::test;

Relevance ApplyBytes(Model* model, const nt::MessageBuilder& builder) {
  auto bytes = builder.Bytes();
  ParseResult result = ParseDatagram({bytes.data(), bytes.size()});
  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.messages.size(), 1u);
  return model->Apply(result.messages.at(0).body);
}

constexpr uint32_t kUpWithCarrier = IFF_UP | IFF_LOWER_UP | IFF_RUNNING;

struct Step {
  const char* what;
  nt::MessageBuilder message;
  Relevance expected;
};

// A table of message sequences and what each one means for the uplink.
TEST(NetlinkModel, RelevanceTable) {
  Model model;
  std::vector<Step> steps = {
      {"new uplink device", nt::LinkMessage(true, 2, "wan0", kUpWithCarrier),
       Relevance::kChanged},
      {"same link again", nt::LinkMessage(true, 2, "wan0", kUpWithCarrier),
       Relevance::kUnchanged},
      {"carrier lost", nt::LinkMessage(true, 2, "wan0", IFF_UP),
       Relevance::kChanged},
      {"tailscale0 appears",
       nt::LinkMessage(true, 9, "tailscale0", kUpWithCarrier, "tun"),
       Relevance::kIgnored},
      {"tailscale0 flaps", nt::LinkMessage(true, 9, "tailscale0", IFF_UP),
       Relevance::kIgnored},
      {"uplink address", nt::AddressMessage(true, 2, "198.51.100.2", 24),
       Relevance::kChanged},
      {"RA lifetime refresh (same address)",
       nt::AddressMessage(true, 2, "198.51.100.2", 24), Relevance::kUnchanged},
      {"tailscale address on tailscale0",
       nt::AddressMessage(true, 9, "100.101.102.103", 32), Relevance::kIgnored},
      {"tailscale ULA", nt::AddressMessage(true, 9, "fd7a:115c:a1e0::1", 128),
       Relevance::kIgnored},
      {"CGNAT address anywhere is tailscale's",
       nt::AddressMessage(true, 2, "100.64.1.1", 32), Relevance::kIgnored},
      {"v6 address tentative",
       nt::AddressMessage(true, 2, "2001:db8:a::2", 64, IFA_F_TENTATIVE),
       Relevance::kChanged},
      {"v6 address DAD done", nt::AddressMessage(true, 2, "2001:db8:a::2", 64),
       Relevance::kChanged},
      {"default route", nt::RouteMessage(true, "0.0.0.0", 0, 2, "198.51.100.1"),
       Relevance::kChanged},
      {"default route replaced via another gateway",
       nt::RouteMessage(true, "0.0.0.0", 0, 2, "198.51.100.254"),
       Relevance::kChanged},
      {"split default half",
       nt::RouteMessage(true, "0.0.0.0", 1, 3, "203.0.113.1"),
       Relevance::kChanged},
      {"a /24 from a routing daemon",
       nt::RouteMessage(true, "203.0.113.0", 24, 2, "198.51.100.1"),
       Relevance::kIgnored},
      {"v6 /48 from a routing daemon",
       nt::RouteMessage(true, "2001:db8:1::", 48, 2, "fe80::1"),
       Relevance::kIgnored},
      {"tailscale's table 52", nt::RouteMessage(true, "0.0.0.0", 0, 9, "", 52),
       Relevance::kIgnored},
      {"route via tailscale0 in main",
       nt::RouteMessage(true, "100.64.0.0", 10, 9, ""), Relevance::kIgnored},
      {"local table", nt::RouteMessage(true, "0.0.0.0", 0, 2, "", 255),
       Relevance::kIgnored},
      {"mwan3 policy rule",
       nt::RuleMessage(true, false, 2001, 1, 0x100, 0x3f00),
       Relevance::kChanged},
      {"same rule again", nt::RuleMessage(true, false, 2001, 1, 0x100, 0x3f00),
       Relevance::kUnchanged},
      {"tailscale's rule to table 52", nt::RuleMessage(true, false, 5270, 52),
       Relevance::kIgnored},
      {"rule removed", nt::RuleMessage(false, false, 2001, 1, 0x100, 0x3f00),
       Relevance::kChanged},
      {"default route deleted",
       nt::RouteMessage(false, "0.0.0.0", 0, 2, "198.51.100.254"),
       Relevance::kChanged},
      {"deleting it again",
       nt::RouteMessage(false, "0.0.0.0", 0, 2, "198.51.100.254"),
       Relevance::kUnchanged},
      {"tailscale0 removed", nt::LinkMessage(false, 9, "tailscale0", 0),
       Relevance::kIgnored},
      {"uplink removed", nt::LinkMessage(false, 2, "wan0", 0),
       Relevance::kChanged},
  };
  for (const Step& step : steps) {
    EXPECT_EQ(ApplyBytes(&model, step.message), step.expected) << step.what;
  }
}

TEST(NetlinkModel, CarrierAndSourceUsability) {
  Model model;
  ApplyBytes(&model, nt::LinkMessage(true, 2, "wan0", kUpWithCarrier));
  ApplyBytes(&model,
             nt::AddressMessage(true, 2, "2001:db8:a::2", 64, IFA_F_TENTATIVE));
  ASSERT_NE(model.FindLink(2), nullptr);
  EXPECT_TRUE(model.FindLink(2)->HasCarrier());
  auto ip = *IpAddress::Parse("2001:db8:a::2");
  ASSERT_NE(model.FindAddress(2, ip), nullptr);
  EXPECT_FALSE(model.FindAddress(2, ip)->IsUsableSource());
  ApplyBytes(&model,
             nt::AddressMessage(true, 2, "2001:db8:a::2", 64, IFA_F_DADFAILED));
  EXPECT_FALSE(model.FindAddress(2, ip)->IsUsableSource());
  ApplyBytes(&model,
             nt::AddressMessage(true, 2, "2001:db8:a::2", 64, IFA_F_PERMANENT));
  EXPECT_TRUE(model.FindAddress(2, ip)->IsUsableSource());
  ApplyBytes(&model, nt::LinkMessage(true, 2, "wan0", IFF_UP));
  EXPECT_FALSE(model.FindLink(2)->HasCarrier());
  EXPECT_TRUE(model.FindLink(2)->IsUp());
}

TEST(NetlinkModel, LongPrefixesAreNotStored) {
  Model model;
  for (int i = 0; i < 100; ++i) {
    std::string dst = "203.0." + std::to_string(i) + ".0";
    ApplyBytes(&model, nt::RouteMessage(true, dst, 24, 2, "198.51.100.1"));
  }
  EXPECT_EQ(model.route_count(), 0u);
  ApplyBytes(&model, nt::RouteMessage(true, "0.0.0.0", 0, 2, "198.51.100.1"));
  EXPECT_EQ(model.route_count(), 1u);
}

TEST(NetlinkModel, ConfiguredTailscaleInterfaceName) {
  IgnorePolicy policy;
  policy.tailscale_interfaces = {"ts-custom"};
  Model model(policy);
  EXPECT_EQ(ApplyBytes(&model, nt::LinkMessage(true, 4, "ts-custom", IFF_UP)),
            Relevance::kIgnored);
  EXPECT_EQ(ApplyBytes(&model, nt::LinkMessage(true, 5, "tailscale0", IFF_UP)),
            Relevance::kChanged);
}

// Found by the netlink fuzzer (tests/fuzz/regressions/netlink): an
// NLMSG_ERROR answering the route query with INT_MIN made MakeEgress negate
// it (signed overflow). ErrnoFromNetlinkError: codes outside the errno range
// mean a corrupt reply.
TEST(NetlinkEgress, ErrorCodesBecomeErrnos) {
  const struct {
    int code;
    int want;
  } cases[] = {{-ENETUNREACH, ENETUNREACH},
               {ENETUNREACH, ENETUNREACH},
               {-4095, 4095},
               {INT_MIN, EPROTO},
               {-4096, EPROTO},
               {INT_MAX, EPROTO}};
  const Model model;
  for (const auto& c : cases) {
    std::vector<uint8_t> bytes;
    nt::ErrorMessage(c.code, /*seq=*/7).AppendTo(&bytes);
    const ParseResult result = ParseDatagram({bytes.data(), bytes.size()});
    ASSERT_FALSE(result.error);
    const auto lookup = FindRouteReply(result.messages, 7);
    ASSERT_TRUE(lookup);
    const Egress egress = MakeEgress(*lookup, model);
    EXPECT_FALSE(egress.present);
    EXPECT_EQ(egress.lookup_error, c.want) << "code " << c.code;
  }
}

}  // namespace
}  // namespace netlink
