// The steering executor over a fake route table, and the route requests it
// sends, parsed back.
#include "watchdog/daemon/route_steerer.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>

#include "netlink/parser.h"
#include "netlink/route_control.h"

namespace watchdog {
namespace {

using netlink::IpAddress;
using netlink::RouteMessage;

class FakeTable : public RouteTablePort {
 public:
  int AddRoute(const RouteMessage& route) override {
    calls.push_back("add metric " + std::to_string(route.priority));
    added.push_back(route);
    return add_error;
  }
  int DeleteRoute(const RouteMessage& route) override {
    calls.push_back("delete metric " + std::to_string(route.priority));
    return delete_errors.empty() ? 0 : Pop();
  }
  int Pop() {
    int e = delete_errors.front();
    delete_errors.erase(delete_errors.begin());
    return e;
  }
  std::vector<std::string> calls;
  std::vector<RouteMessage> added;
  int add_error = 0;
  std::vector<int> delete_errors;
};

RouteMessage Ours(uint32_t metric) {
  RouteMessage r;
  r.table = RT_TABLE_MAIN;
  r.protocol = kSteeringProtocol;
  r.type = RTN_UNICAST;
  r.oif = 3;
  r.gateway = IpAddress::Parse("203.0.113.1");
  r.priority = metric;
  return r;
}

const SteeringRoute kWanted{netlink::Family::kV4, 3, "wan1",
                            IpAddress::Parse("203.0.113.1"), 9};

TEST(RouteSteerer, RemovesBeforeItAdds) {
  FakeTable table;
  SteeringPlan plan;
  plan.remove = {Ours(5)};
  plan.add = kWanted;
  plan.why = "because";
  SteeringResult result = ApplySteering(table, plan);
  EXPECT_EQ(table.calls,
            (std::vector<std::string>{"delete metric 5", "add metric 9"}));
  EXPECT_EQ(result.added, 1);
  EXPECT_EQ(result.removed, 1);
  EXPECT_TRUE(result.errors.empty());
  const RouteMessage& added = table.added[0];
  EXPECT_EQ(added.table, unsigned(RT_TABLE_MAIN));
  EXPECT_EQ(added.protocol, kSteeringProtocol);
  EXPECT_EQ(added.dst_len, 0);
  EXPECT_EQ(added.oif, 3);
  EXPECT_EQ(added.gateway, IpAddress::Parse("203.0.113.1"));
}

TEST(RouteSteerer, ErrorsAreReportedAndAGoneRouteIsNoError) {
  FakeTable table;
  table.delete_errors = {ESRCH, EPERM};
  table.add_error = ENETUNREACH;
  SteeringPlan plan;
  plan.remove = {Ours(5), Ours(6)};
  plan.add = kWanted;
  LinkNames links;
  links[3] = netlink::Link{3, "wan1", "veth", 0};
  SteeringResult result = ApplySteering(table, plan, links);
  EXPECT_EQ(result.removed, 1);
  EXPECT_EQ(result.added, 0);
  EXPECT_FALSE(result.already);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0],
            "removing default via 203.0.113.1 dev wan1 metric 6 proto 122: "
            "Operation not permitted");
  EXPECT_EQ(result.errors[1],
            "adding default via 203.0.113.1 dev wan1 metric 9: Network is "
            "unreachable");
}

// Ours, added a moment ago, before the netlink model heard of it: the
// kernel says EEXIST to the second add (NLM_F_EXCL).
TEST(RouteSteerer, AnAddThatFindsTheRouteThereIsNoError) {
  FakeTable table;
  table.add_error = EEXIST;
  SteeringPlan plan;
  plan.add = kWanted;
  SteeringResult result = ApplySteering(table, plan);
  EXPECT_EQ(result.added, 0);
  EXPECT_TRUE(result.already);
  EXPECT_TRUE(result.errors.empty());
}

TEST(RouteSteerer, RemoveOwnRoutesTakesOnlyOurs) {
  FakeTable table;
  RouteMessage theirs = Ours(9);
  theirs.protocol = RTPROT_BOOT;
  std::vector<RouteMessage> routes = {theirs, Ours(9), Ours(4)};
  routes[2].family = netlink::Family::kV6;
  routes[2].gateway = IpAddress::Parse("2001:db8:b::1");
  SteeringResult result = RemoveOwnRoutes(table, routes, "start");
  EXPECT_EQ(result.removed, 2);
  EXPECT_EQ(table.calls,
            (std::vector<std::string>{"delete metric 9", "delete metric 4"}));
}

TEST(RouteControl, RequestsParseBackAsTheRoute) {
  const RouteMessage route = ToRouteMessage(kWanted);
  for (bool add : {true, false}) {
    std::vector<uint8_t> bytes = netlink::BuildRouteChange(add, route, 42);
    nlmsghdr header;
    std::memcpy(&header, bytes.data(), sizeof header);
    EXPECT_EQ(header.nlmsg_flags & NLM_F_ACK, NLM_F_ACK);
    // Never NLM_F_REPLACE: adding can only create.
    EXPECT_EQ(header.nlmsg_flags & NLM_F_REPLACE, 0);
    EXPECT_EQ((header.nlmsg_flags & NLM_F_EXCL) != 0, add);
    netlink::ParseResult parsed = netlink::ParseDatagram(bytes);
    ASSERT_FALSE(parsed.error) << parsed.error->ToString();
    ASSERT_EQ(parsed.messages.size(), 1u);
    EXPECT_EQ(parsed.messages[0].seq, 42u);
    const auto& back = std::get<RouteMessage>(parsed.messages[0].body);
    EXPECT_EQ(back.deleted, !add);
    EXPECT_EQ(back.table, unsigned(RT_TABLE_MAIN));
    EXPECT_EQ(back.protocol, kSteeringProtocol);
    EXPECT_EQ(back.gateway, route.gateway);
    EXPECT_EQ(back.oif, 3);
    EXPECT_EQ(back.priority, 9u);
    EXPECT_FALSE(back.dst);
  }
}

}  // namespace
}  // namespace watchdog
