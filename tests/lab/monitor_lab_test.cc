// `tswatchdog monitor` as a user runs it: a real process in a lab namespace,
// reading its stdout.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
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

// The lab scenarios of the tracker, one after another, as `monitor --json`
// reports them: each step's script, then the reasons and the v4/v6 devices of
// the line it must print.
TEST_F(MonitorLab, EveryScenarioAsJsonLines) {
  struct Scenario {
    const char* name;
    const char* script;
    std::vector<std::string> reasons;
    const char* v4_dev;  // of a usable egress; "-" when none
    const char* v6_dev;
  };
  const std::vector<Scenario> scenarios = {
      {"failover by deleting the default route",
       "ip route del default via 198.51.100.1 dev wan0 metric 100",
       {"v4:device-changed", "v4:gateway-changed", "v4:source-changed"},
       "wan1",
       "wan0"},
      {"failover back by metrics only",
       "ip route add default via 198.51.100.1 dev wan0 metric 150",
       {"v4:device-changed", "v4:gateway-changed", "v4:source-changed"},
       "wan0",
       "wan0"},
      {"policy routing: a fwmark rule, main table unchanged",
       "ip route add default via 203.0.113.1 dev wan1 table 2\n"
       "ip rule add fwmark 0x80000/0xff0000 lookup 2 pref 1000",
       {"v4:device-changed", "v4:gateway-changed", "v4:source-changed"},
       "wan1",
       "wan0"},
      {"rule removed",
       "ip rule del pref 1000",
       {"v4:device-changed", "v4:gateway-changed", "v4:source-changed"},
       "wan0",
       "wan0"},
      {"split default routes via wan1",
       "ip route add 0.0.0.0/1 via 203.0.113.1 dev wan1\n"
       "ip route add 128.0.0.0/1 via 203.0.113.1 dev wan1",
       {"v4:device-changed", "v4:gateway-changed", "v4:source-changed"},
       "wan1",
       "wan0"},
      {"carrier loss on wan1",
       "ip link set isp1 down",
       {"v4:uplink-lost", "v4:carrier-changed"},
       "-",
       "wan0"},
      {"split routes gone with the carrier back",
       "ip route del 0.0.0.0/1\nip route del 128.0.0.0/1\nip link set isp1 up",
       {"v4:device-changed", "v4:uplink-appeared", "v4:gateway-changed",
        "v4:source-changed", "v4:carrier-changed"},
       "wan0",
       "wan0"},
      {"new DHCP lease on wan0",
       "sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1\n"
       "ip addr add 198.51.100.77/24 dev wan0\n"
       "ip addr del 198.51.100.2/24 dev wan0",
       {"v4:source-changed"},
       "wan0",
       "wan0"},
      {"IPv6 failover",
       "ip -6 route add default via 2001:db8:b::1 dev wan1 metric 200\n"
       "ip -6 route del default via 2001:db8:a::1 dev wan0 metric 100",
       {"v6:device-changed", "v6:gateway-changed", "v6:source-changed"},
       "wan0",
       "wan1"},
      {"everything down",
       "ip link set wan0 down\nip link set wan1 down",
       {"v4:uplink-lost", "v6:uplink-lost"},
       "-",
       "-"},
      {"late interface comes up",
       "ip link set wan1 up\nip route add default via 203.0.113.1 dev wan1\n"
       // Link down flushed the IPv6 address; as SLAAC/DHCPv6 would:
       "ip -6 addr add 2001:db8:b::2/64 dev wan1 nodad\n"
       "ip -6 route add default via 2001:db8:b::1 dev wan1",
       {"v4:uplink-appeared", "v6:uplink-appeared"},
       "wan1",
       "wan1"},
  };
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--json"});
  std::string line;
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  auto dev = [](const json& egress) {
    return egress["usable"] == true ? egress["dev"].get<std::string>()
                                    : std::string("-");
  };
  for (const Scenario& s : scenarios) {
    SCOPED_TRACE(s.name);
    // Stop the monitor while the script runs so that all of the scenario's
    // notifications are queued and read as one burst: exactly one line.
    monitor.Signal(SIGSTOP);
    LAB_RUN(s.script);
    monitor.Signal(SIGCONT);
    ASSERT_TRUE(monitor.ReadLine(&line, seconds(10))) << "no line";
    json change = json::parse(line);
    EXPECT_EQ(dev(change["v4"]), s.v4_dev) << line;
    EXPECT_EQ(dev(change["v6"]), s.v6_dev) << line;
    std::vector<std::string> reasons = change["reasons"];
    std::sort(reasons.begin(), reasons.end());
    std::vector<std::string> want = s.reasons;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(reasons, want) << line;
  }
  EXPECT_EQ(monitor.Stop(seconds(10)), 0)
      << "1 (23 without ASan): LeakSanitizer found leaks";
}

// The kernel takes any byte but '/', ':' and whitespace in a name: an uplink
// named "wan\xff" made `monitor --json` (and `run`) abort at start with JSON
// type_error 316 (issue 13). The name comes out as valid UTF-8 (U+FFFD).
TEST_F(MonitorLab, AnInterfaceNameThatIsNotUtf8IsShownValid) {
  LAB_RUN(
      "n=$(printf 'wan\\377')\nip link set dev wan0 down\n"
      "ip link set dev wan0 name \"$n\"\nip link set dev \"$n\" up\n"
      "ip route replace default via 198.51.100.1 dev \"$n\" metric 50");
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--json"});
  std::string line;
  ASSERT_TRUE(monitor.ReadLine(&line, seconds(10)));
  json initial = json::parse(line);
  EXPECT_EQ(initial["event"], "initial");
  EXPECT_EQ(initial["v4"]["dev"], "wan\xEF\xBF\xBD") << line;
}

TEST_F(MonitorLab, BadOptionExitsTwo) {
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--no-such-flag"});
  EXPECT_EQ(monitor.Wait(seconds(10)), 2);
}

}  // namespace
