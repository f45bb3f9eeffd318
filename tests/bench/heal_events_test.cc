// What benchmark 5 counts as "healed" and as a disruptive step
// (tests/bench/heal_events.h), on hand-made event and request logs.
#include "tests/bench/heal_events.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace bench {
namespace {

using nlohmann::json;

json Online(int64_t ms, bool value) {
  return {{"unix_ms", ms}, {"event", "online"}, {"value", value}};
}
json Control(int64_t ms, const std::string& kind, const std::string& local) {
  return {{"unix_ms", ms}, {"event", kind}, {"local", local}};
}

TEST(HealEvents, SelfHealBeforeTheWatchdogSeesAnything) {
  // (a): Online never went false; a new connection at 1.2 s lasted.
  const std::vector<json> events = {Online(100, true),
                                    Control(200, "control-connected", "l1"),
                                    Control(1100, "control-closed", "l1"),
                                    Control(1150, "control-dial", "l2"),
                                    Control(1200, "control-connected", "l2")};
  EXPECT_EQ(HealedAt(events, 1000, 5000), 1200);
  EXPECT_FALSE(HealedAt(events, 1000, 1199)) << "not confirmed yet";
}

TEST(HealEvents, OfflineThenBackCountsFromOnline) {
  const std::vector<json> events = {
      Online(100, true), Control(150, "control-connected", "l1"),
      Online(121000, false), Control(400000, "control-connected", "l2"),
      Online(400300, true)};
  EXPECT_EQ(HealedAt(events, 1000, 500000), 400300);
}

TEST(HealEvents, DialIntoADeadPathIsNoHeal) {
  const std::vector<json> events = {
      Online(100, true), Control(150, "control-connected", "l1"),
      Online(121000, false), Control(130000, "control-dial", "l2"),
      Control(257000, "control-closed", "l2")};
  EXPECT_FALSE(HealedAt(events, 1000, 300000));
  EXPECT_FALSE(CurrentOnline(events));
  // A dial that never connected is no heal, even while Online lags at true.
  EXPECT_FALSE(HealedAt({Online(100, true), Control(2000, "control-dial", "x")},
                        1000, 9000));
  // Connected, but Online false: not healed either.
  EXPECT_FALSE(
      HealedAt({Online(100, false), Control(2000, "control-connected", "x")},
               1000, 9000));
}

TEST(HealEvents, OldConnectionIsNotAHeal) {
  // Nothing connected since the failure (b, tailscaled alone): never healed,
  // even while Self.Online still lags at true.
  EXPECT_FALSE(
      HealedAt({Online(100, true), Control(150, "control-connected", "l1")},
               1000, 200000));
}

// (g): the control connection works, but routes failed to program: healed
// only when the router warning goes (reup).
TEST(HealEvents, RouterWarningMustClear) {
  std::vector<json> events = {
      {{"unix_ms", 50}, {"event", "health"}, {"visible", {"router"}}},
      Control(2000, "control-connected", "l1"),
      Online(2100, true)};
  EXPECT_FALSE(HealedAt(events, 1000, 9000));
  events.push_back(
      {{"unix_ms", 5000}, {"event", "health"}, {"visible", json::array()}});
  EXPECT_EQ(HealedAt(events, 1000, 9000), 5000);
}

TEST(HealEvents, StepsAfterTheFailureOnly) {
  const std::vector<json> requests = {
      {{"unix_ms", 500}, {"method", "POST"}, {"path", "/localapi/v0/start"}},
      {{"unix_ms", 1500}, {"method", "POST"}, {"path", "/localapi/v0/start"}},
      {{"unix_ms", 1600},
       {"method", "PATCH"},
       {"path", "/localapi/v0/prefs"},
       {"body", "{\"WantRunning\":false,\"WantRunningSet\":true}"}},
      {{"unix_ms", 1700},
       {"method", "PATCH"},
       {"path", "/localapi/v0/prefs"},
       {"body", "{\"WantRunning\":true,\"WantRunningSet\":true}"}},
      {{"unix_ms", 1800},
       {"method", "POST"},
       {"path", "/localapi/v0/debug"},
       {"query", "action=rebind"}}};
  char path[] = "/tmp/heal-restarts-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "900\n2000\n3000\n";
  const Steps steps = CountSteps(requests, path, 1000);
  std::remove(path);
  EXPECT_EQ(steps.start, 1);
  EXPECT_EQ(steps.reup, 1);
  EXPECT_EQ(steps.restart, 2);
}

}  // namespace
}  // namespace bench
