// The health classifier over tailscaled's recorded replies (the shared
// fixtures, ours in tests/data/localapi, Health null vs [] on the wire, the
// bus stream), parsed as the daemon parses them. The hand-written cases are
// in tests/core/health_test.cc.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/core/health_cases.h"
#include "tests/localapi/test_fixtures.h"
#include "watchdog/core/health.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog::health_cases {
namespace {

std::vector<std::string> ReadLines(const std::string& name) {
  std::istringstream in(ReadFixture(name));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

Status JsonStatus(const std::string& json) {
  auto parsed = ParseStatus(json);
  EXPECT_TRUE(parsed.ok()) << (parsed ? "" : parsed.error().message) << ": "
                           << json;
  return parsed ? parsed.value() : Status{};
}

Status FixtureStatus(const std::string& name) {
  return JsonStatus(ReadFixture(name));
}

std::vector<Case> Cases() {
  const Status openwrt = FixtureStatus("status-running-openwrt-1.98.json");
  const Status offline = FixtureStatus("status-running-but-offline-1.102.json");
  const Status stuck =
      FixtureStatus("status-stuck-starting-no-derp-1.102.json");
  auto control_lost =
      ParseNotify(ReadFixture("notify-health-control-lost-1.102.json"));
  EXPECT_TRUE(control_lost.ok() && control_lost->health);
  const HealthState lost_health = control_lost && control_lost->health
                                      ? *control_lost->health
                                      : HealthState{};

  return {
      // --- the shared fixtures ---------------------------------------------
      {"openwrt 1.98 healthy, benign accept-routes text",
       Inputs(openwrt),
       HealthKind::kHealthy,
       {}},
      {"running but offline after failover",
       Inputs(offline),
       HealthKind::kDegraded,
       {"offline", "derp-timed-out", "not-in-map-poll"}},
      {"stuck starting past start_timeout",
       StartedAgo(Inputs(stuck), seconds(120)),
       HealthKind::kDegraded,
       {"stuck-starting", "no-relay", "no-derp-home"}},
      {"stuck starting fixture within start_timeout",
       StartedAgo(Inputs(stuck), seconds(10)),
       HealthKind::kStarting,
       {"starting"}},
      {"bus health control lost, status looks fine",
       Inputs(openwrt, lost_health),
       HealthKind::kDegraded,
       {"derp-timed-out", "not-in-map-poll"}},
      {"structured health wins over legacy strings",
       Inputs(offline, HealthState{}),
       HealthKind::kDegraded,
       {"offline"}},
      // --- our extra fixtures (tests/data/localapi)
      // ---------------------------
      {"1.66 OpenWrt, online but terse DERP text",
       Inputs(FixtureStatus("status-running-legacy-derp-1.66.json")),
       HealthKind::kDegraded,
       {"no-derp-connection"}},
      {"1.58 offline with terse texts",
       Inputs(FixtureStatus("status-running-legacy-offline-1.58.json")),
       HealthKind::kDegraded,
       {"offline", "mapresponse-timeout", "not-in-map-poll"}},
      {"tailscale down",
       Inputs(FixtureStatus("status-stopped-1.102.json")),
       HealthKind::kUserIntentOff,
       {"stopped"}},
      {"logged out",
       Inputs(FixtureStatus("status-needs-login-1.102.json")),
       HealthKind::kUserIntentOff,
       {"needs-login"}},
      // --- Health null vs [] on the wire ----------------------------------
      {"Health null on the wire",
       Inputs(JsonStatus(R"({"BackendState":"Running","Self":{"Online":true,)"
                         R"("Relay":"fra"},"Health":null})")),
       HealthKind::kHealthy,
       {}},
      {"Health [] on the wire",
       Inputs(JsonStatus(R"({"BackendState":"Running","Self":{"Online":true,)"
                         R"("Relay":"fra"},"Health":[]})")),
       HealthKind::kHealthy,
       {}},
      {"Health absent, offline",
       Inputs(
           JsonStatus(R"({"BackendState":"Running","Self":{"Online":false}})")),
       HealthKind::kDegraded,
       {"offline"}},
  };
}

TEST(HealthTest, ClassifiesEveryFixture) { ExpectCases(Cases()); }

// Replays the shared bus stream, keeping the latest Health and State as the
// daemon does, and classifies after every line.
TEST(HealthTest, BusStreamFixtureSequence) {
  const Status base = FixtureStatus("status-running-openwrt-1.98.json");
  const std::vector<std::string> want = {
      "healthy",  "degraded: network-status",
      "healthy",  "degraded: no-derp-connection",
      "healthy",  "healthy",
      "starting", "healthy"};
  for (bool uplink : {true, false}) {
    SCOPED_TRACE(uplink ? "uplink usable" : "uplink down");
    HealthInputs in = Inputs(base);
    in.uplink_usable = uplink;
    const auto lines = ReadLines("watch-ipn-bus-stream-1.102.jsonl");
    ASSERT_EQ(lines.size(), want.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      auto notify = ParseNotify(lines[i]);
      ASSERT_TRUE(notify.ok()) << notify.error().message;
      if (notify->health) in.bus_health = notify->health;
      if (notify->state) in.bus_state = notify->state;
      const HealthVerdict v = ClassifyHealth(in);
      std::string got(HealthKindName(v.kind));
      for (const auto& r : v.reasons) {
        if (v.kind == HealthKind::kDegraded) got += ": " + r.code;
      }
      std::string expected = want[i];
      if (!uplink && i == 1) expected = "healthy";
      EXPECT_EQ(got, expected) << "line " << i << ": " << v.Describe();
    }
  }
}

}  // namespace
}  // namespace watchdog::health_cases
