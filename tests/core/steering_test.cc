// Mode-A steering plans (pure): routes, links and mwan3's view in, which of
// our routes to remove and which to add out.
#include "watchdog/core/steering.h"

#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "tests/core/kernel_messages.h"

namespace watchdog {
namespace {

using netlink::Family;
using netlink::IpAddress;
using netlink::RouteMessage;
using netlink::RuleMessage;
using testing::Rule;

RouteMessage Default(int32_t oif, const char* gw, uint32_t metric,
                     uint32_t table = RT_TABLE_MAIN,
                     uint8_t protocol = RTPROT_STATIC,
                     Family family = Family::kV4) {
  return testing::DefaultRoute(oif, gw, metric, table, protocol, family);
}

// A two-WAN router: wan (wan0, metric 10) and wanb (wan1, metric 20).
struct Router {
  std::string wan = "offline\n";
  std::string wanb = "online\n";
  uint32_t tailscale_base = 1300;
  std::vector<RouteMessage> routes = {
      Default(2, "198.51.100.1", 10), Default(3, "203.0.113.1", 20),
      Default(2, "198.51.100.1", 0, 1), Default(3, "203.0.113.1", 0, 2)};

  SteeringInput Input(Family family = Family::kV4) const {
    std::vector<RuleMessage> rules = {
        Rule(1001, 1, 0, 0, "wan0"), Rule(1002, 2, 0, 0, "wan1"),
        Rule(2001, 1, 0x100, 0x3f00), Rule(2002, 2, 0x200, 0x3f00),
        Rule(tailscale_base + 10, 254, 0x80000, 0xff0000)};
    std::map<std::string, Mwan3StatusFiles> files;
    files["wan"].iface_state = wan;
    files["wanb"].iface_state = wanb;
    const std::vector<std::string> order = {"wan", "wanb"};
    SteeringInput in;
    in.family = family;
    in.routes = routes;
    in.links[2] = netlink::Link{2, "wan0", "veth", 0};
    in.links[3] = netlink::Link{3, "wan1", "veth", 0};
    in.mwan3 = BuildMwan3View(DetectMwan3(rules), order, files);
    return in;
  }
};

const SteeringRoute kViaWan1{Family::kV4, 3, "wan1",
                             IpAddress::Parse("203.0.113.1"), 9};

TEST(Steering, TheDeadWanOfMainsDefaultIsSteeredAround) {
  SteeringPlan plan = PlanSteering(Router().Input());
  ASSERT_TRUE(plan.add);
  EXPECT_EQ(*plan.add, kViaWan1);
  EXPECT_EQ(plan.add->ToString(), "default via 203.0.113.1 dev wan1 metric 9");
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_EQ(plan.why,
            "wan (wan0) is offline, wanb (wan1) is online: tailscaled's "
            "traffic goes by wan1");
}

TEST(Steering, OursInPlaceIsKept) {
  Router r;
  r.routes.push_back(
      Default(3, "203.0.113.1", 9, RT_TABLE_MAIN, kSteeringProtocol));
  SteeringPlan plan = PlanSteering(r.Input());
  EXPECT_FALSE(plan.changes());
  EXPECT_EQ(plan.keep, kViaWan1);
}

TEST(Steering, OursOutOfDateIsReplaced) {
  Router r;
  r.routes.push_back(
      Default(3, "203.0.113.1", 5, RT_TABLE_MAIN, kSteeringProtocol));
  SteeringPlan plan = PlanSteering(r.Input());
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(plan.remove[0].priority, 5u);
  EXPECT_EQ(plan.add, kViaWan1);
}

TEST(Steering, OursGoWhenTheyAreNotWanted) {
  struct Case {
    const char* name;
    Router router;
    bool enabled = true;
    const char* why;
  };
  Router back;
  back.wan = "online\n";
  Router mode_b;
  mode_b.tailscale_base = 5200;
  Router metric0;
  metric0.routes[0].priority = 0;
  Router both_down;
  both_down.wanb = "offline\n";
  Router unknown;
  unknown.wan = "";  // caught mid-write: not a verdict
  const Case cases[] = {
      {"the WAN is back", back, true,
       "wan (wan0), which the main table's default uses, is online"},
      {"mode B", mode_b, true,
       "tailscaled is not in mode A (mode B): its traffic does not go by the "
       "main table first"},
      {"switched off", Router(), false, "mwan3 steering is off (config)"},
      {"metric 0", metric0, true, nullptr},
      {"no live WAN", both_down, true,
       "wan (wan0) is offline and no WAN mwan3 says is online has a default "
       "route"},
      {"state unknown", unknown, true,
       "wan (wan0), which the main table's default uses, is unknown"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Router r = c.router;
    RouteMessage ours =
        Default(3, "203.0.113.1", 9, RT_TABLE_MAIN, kSteeringProtocol);
    r.routes.push_back(ours);
    SteeringInput in = r.Input();
    in.enabled = c.enabled;
    SteeringPlan plan = PlanSteering(in);
    EXPECT_FALSE(plan.add);
    ASSERT_EQ(plan.remove.size(), 1u);
    EXPECT_EQ(plan.remove[0].protocol, kSteeringProtocol);
    EXPECT_EQ(plan.remove[0].priority, 9u);
    if (c.why) {
      EXPECT_EQ(plan.why, c.why);
    }
  }
  EXPECT_NE(PlanSteering(metric0.Input()).why.find("metric 0"),
            std::string::npos);
}

TEST(Steering, FallsBackToTheLiveWansOwnTable) {
  Router r;
  r.routes.erase(r.routes.begin() + 1);  // no main default via wan1
  SteeringPlan plan = PlanSteering(r.Input());
  ASSERT_TRUE(plan.add);
  EXPECT_EQ(plan.add->dev, "wan1");
  EXPECT_EQ(plan.add->gateway, IpAddress::Parse("203.0.113.1"));
  EXPECT_EQ(plan.add->metric, 9u);
}

TEST(Steering, NeverTouchesWhatIsNotOurs) {
  Router r;
  // Someone else's route with our shape, another protocol: not ours.
  r.routes.push_back(Default(3, "203.0.113.1", 9, RT_TABLE_MAIN, RTPROT_BOOT));
  // Ours in another table is not ours either (we only ever add to main).
  r.routes.push_back(Default(3, "203.0.113.1", 9, 7, kSteeringProtocol));
  r.wan = "online\n";
  SteeringPlan plan = PlanSteering(r.Input());
  EXPECT_FALSE(plan.changes());
  EXPECT_EQ(OwnSteeringRoutes(r.routes).size(), 0u);
}

TEST(Steering, FamiliesAreSeparate) {
  Router r;
  r.routes.push_back(
      Default(3, "203.0.113.1", 9, RT_TABLE_MAIN, kSteeringProtocol));
  // IPv6: mwan3 tracks no v6 WAN here, so nothing is wanted, and the v4
  // route of ours is not the v6 plan's to remove.
  SteeringPlan v6 = PlanSteering(r.Input(Family::kV6));
  EXPECT_FALSE(v6.changes());
  EXPECT_EQ(v6.why, "no default route in the main table");
}

TEST(Steering, AMainDefaultNotOnAnMwan3Wan) {
  Router r;
  r.routes.push_back(Default(4, "192.0.2.1", 1));  // lte0, not mwan3's
  SteeringInput in = r.Input();
  in.links[4] = netlink::Link{4, "lte0", "", 0};
  SteeringPlan plan = PlanSteering(in);
  EXPECT_FALSE(plan.changes());
  EXPECT_EQ(plan.why,
            "the main table's default (default via 192.0.2.1 dev lte0 metric "
            "1) is not on a WAN mwan3 tracks");
}

}  // namespace
}  // namespace watchdog
