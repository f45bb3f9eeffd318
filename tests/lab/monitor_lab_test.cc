// `tswatchdog monitor` as a user runs it: a real process in a lab namespace,
// reading its stdout.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "tests/lab/lab.h"

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class MonitorLab : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    lab::CreateDualWan();
    LAB_RUN(
        "ip route add default via 198.51.100.1 dev wan0 metric 100\n"
        "ip route add default via 203.0.113.1 dev wan1 metric 200\n"
        "ip -6 route add default via 2001:db8:a::1 dev wan0 metric 100");
  }
};

TEST_F(MonitorLab, JsonInitialViewThenOneLinePerChange) {
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--json"});
  std::string line;
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  json initial = json::parse(line);
  EXPECT_EQ(initial["event"], "initial");
  EXPECT_EQ(initial["v4"]["dev"], "wan0");
  EXPECT_EQ(initial["v4"]["gateway"], "198.51.100.1");
  EXPECT_EQ(initial["v4"]["source"], "198.51.100.2");
  EXPECT_EQ(initial["v4"]["carrier"], true);
  EXPECT_EQ(initial["v4"]["usable"], true);
  EXPECT_EQ(initial["v6"]["dev"], "wan0");
  EXPECT_EQ(initial["v6"]["source"], "2001:db8:a::2");

  const auto changed_at = std::chrono::steady_clock::now();
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  const auto latency = std::chrono::steady_clock::now() - changed_at;
  json change = json::parse(line);
  EXPECT_EQ(change["event"], "change");
  EXPECT_EQ(change["reasons"], json({"v4:device-changed", "v4:gateway-changed",
                                     "v4:source-changed"}));
  EXPECT_EQ(change["v4"]["dev"], "wan1");
  EXPECT_EQ(change["v4"]["gateway"], "203.0.113.1");
  EXPECT_EQ(change["v6"]["dev"], "wan0");
  // A figure, not a pass/fail timing: the line is printed as soon as the
  // kernel notifies.
  RecordProperty(
      "failover_to_line_us",
      std::to_string(
          std::chrono::duration_cast<std::chrono::microseconds>(latency)
              .count()));
  std::fprintf(
      stderr, "monitor: route change to JSON line in %lld us\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::microseconds>(latency)
              .count()));

  LAB_RUN("ip link set isp1 down");
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  change = json::parse(line);
  EXPECT_EQ(change["reasons"], json({"v4:uplink-lost", "v4:carrier-changed"}));
  EXPECT_EQ(change["v4"]["usable"], false);

  monitor.Signal(SIGTERM);
  EXPECT_EQ(monitor.Wait(seconds(10)), 0);
}

TEST_F(MonitorLab, TextOutputAndSigusr1Resync) {
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor"});
  std::string line;
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  EXPECT_NE(line.find("uplink v4: dev wan0 via 198.51.100.1 src 198.51.100.2 "
                      "carrier up [usable]"),
            std::string::npos)
      << line;
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  EXPECT_NE(line.find("uplink v6: dev wan0"), std::string::npos) << line;

  // SIGUSR1 (an mwan3 hotplug hint) resyncs; with nothing changed it prints
  // nothing, so the next line must be the real change that follows.
  monitor.Signal(SIGUSR1);
  LAB_RUN("ip -6 route del default via 2001:db8:a::1 dev wan0 metric 100");
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  EXPECT_NE(line.find("change v6: uplink-lost: dev wan0"), std::string::npos)
      << line;
  monitor.Signal(SIGINT);
  EXPECT_EQ(monitor.Wait(seconds(10)), 0);
}

TEST_F(MonitorLab, BadOptionExitsTwo) {
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--no-such-flag"});
  EXPECT_EQ(monitor.Wait(seconds(10)), 2);
}

}  // namespace
