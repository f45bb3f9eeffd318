// mwan3's view as the state file, the metrics and `tswatchdog status` show
// it, from one Mwan3Status; and nothing of it on a host without mwan3.
#include "watchdog/daemon/mwan3_json.h"

#include <gtest/gtest.h>
#include <linux/fib_rules.h>

#include "tests/core/kernel_messages.h"
#include "watchdog/daemon/metrics.h"

namespace watchdog {
namespace {

using netlink::Family;
using netlink::IpAddress;
using nlohmann::json;
using testing::Rule;

Mwan3Status Steering() {
  const std::vector<netlink::RuleMessage> rules = {
      Rule(1001, 1, 0, 0, "wan0"), Rule(1002, 2, 0, 0, "wan1"),
      Rule(2001, 1, 0x100, 0x3f00), Rule(2002, 2, 0x200, 0x3f00),
      Rule(1310, 254, 0x80000, 0xff0000)};
  std::map<std::string, Mwan3StatusFiles> files;
  files["wan"] = {"offline\n", "offline\n"};
  files["wanb"] = {"online\n", "online\n"};
  Mwan3Status status;
  status.view = BuildMwan3View(DetectMwan3(rules),
                               std::vector<std::string>{"wan", "wanb"}, files);
  status.steering = {
      {Family::kV4, 3, "wan1", IpAddress::Parse("203.0.113.1"), 9}};
  status.steering_why[Family::kV4] =
      "wan (wan0) is offline, wanb (wan1) is online: tailscaled's traffic "
      "goes by wan1";
  status.routes_added = 1;
  return status;
}

const ClockPair kClocks{std::chrono::system_clock::time_point(
                            std::chrono::milliseconds(1796000000000)),
                        MonoTime(std::chrono::hours(1000))};

TEST(Mwan3Json, StateFileCarriesTheViewAndWhatWasDone) {
  Snapshot snapshot;
  snapshot.mwan3 = Steering();
  const json state = StateJson(snapshot, kClocks, 1);
  const json& m = state["mwan3"];
  EXPECT_EQ(m["present"], true);
  EXPECT_EQ(m["tailscale_mode"], "A");
  EXPECT_EQ(m["tailscale_rule"], 1310);
  EXPECT_EQ(m["mask"], "0x3f00");
  EXPECT_EQ(m["wans"][0], json({{"name", "wan"},
                                {"id", 1},
                                {"family", "v4"},
                                {"device", "wan0"},
                                {"state", "offline"},
                                {"tracker", "offline"}}));
  EXPECT_EQ(m["wans"][1]["state"], "online");
  EXPECT_EQ(m["steering"]["routes"],
            json::array({"default via 203.0.113.1 dev wan1 metric 9"}));
  EXPECT_EQ(m["steering"]["enabled"], true);
  EXPECT_EQ(m["flow_cleanup"]["last"], nullptr);
  EXPECT_EQ(m["counters"]["routes_added"], 1);
  EXPECT_EQ(StateJson(Snapshot{}, kClocks, 1)["mwan3"], nullptr);
}

TEST(Mwan3Json, MetricsPerWanAndMode) {
  Snapshot snapshot;
  snapshot.mwan3 = Steering();
  const std::string metrics =
      RenderMetrics(StateJson(snapshot, kClocks, 1), std::chrono::minutes(1));
  for (const char* line :
       {"tswatchdog_mwan3_present 1\n",
        "tswatchdog_mwan3_tailscale_mode{mode=\"A\"} 1\n",
        "tswatchdog_mwan3_tailscale_mode{mode=\"B\"} 0\n",
        "tswatchdog_mwan3_wan_state{wan=\"wan\",id=\"1\",device=\"wan0\","
        "state=\"offline\"} 1\n",
        "tswatchdog_mwan3_wan_state{wan=\"wan\",id=\"1\",device=\"wan0\","
        "state=\"online\"} 0\n",
        "tswatchdog_mwan3_wan_state{wan=\"wanb\",id=\"2\",device=\"wan1\","
        "state=\"online\"} 1\n",
        "tswatchdog_mwan3_steering_routes 1\n",
        "tswatchdog_mwan3_routes_added_total 1\n",
        "# TYPE tswatchdog_mwan3_flow_cleanups_total counter\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }
  const std::string without =
      RenderMetrics(StateJson({}, kClocks, 1), std::chrono::minutes(1));
  EXPECT_EQ(without.find("mwan3"), std::string::npos) << without;
}

TEST(Mwan3Json, StatusLines) {
  Mwan3Status status = Steering();
  FlowCleanupReport cleanup;
  cleanup.order = {"wan (wan0)", 1, 0x100, 0x3f00, "wan (wan0) went offline"};
  cleanup.at = kClocks.mono;
  cleanup.sockets = 4;
  cleanup.matched = cleanup.deleted = 3;
  status.last_cleanup = cleanup;
  status.problems = {"/var/run/mwan3/iface_state/wan: not a state: 'onl'"};
  Snapshot snapshot;
  snapshot.mwan3 = status;
  const std::vector<std::string> lines =
      Mwan3StatusLines(StateJson(snapshot, kClocks, 1));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0],
            "mwan3:      present, tailscaled mode A (rule 1310); steering on, "
            "flow cleanup on");
  EXPECT_EQ(lines[1],
            "            wan id 1 v4 wan0: offline (tracker offline)");
  EXPECT_EQ(lines[2], "            wanb id 2 v4 wan1: online (tracker online)");
  EXPECT_EQ(lines[3],
            "steering:   default via 203.0.113.1 dev wan1 metric 9 (ours, "
            "proto 122)");
  EXPECT_EQ(lines[4].rfind("cleanup:    ", 0), 0u) << lines[4];
  EXPECT_NE(lines[4].find(" ago: deleted 3 conntrack entries"),
            std::string::npos)
      << lines[4];
  EXPECT_EQ(lines[5],
            "            problem: /var/run/mwan3/iface_state/wan: not a "
            "state: 'onl'");
  EXPECT_TRUE(Mwan3StatusLines(StateJson({}, kClocks, 1)).empty());
}

}  // namespace
}  // namespace watchdog
