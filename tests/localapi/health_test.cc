// Table-driven tests of the health classifier over the shared fixtures and
// hand-written cases (legacy texts, ordering, null vs [], user intent, ...).
#include "watchdog/core/health.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/localapi/test_fixtures.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {
namespace {

using std::chrono::seconds;

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
  EXPECT_TRUE(parsed.ok()) << (parsed ? "" : parsed.error()) << ": " << json;
  return parsed ? parsed.value() : Status{};
}

Status FixtureStatus(const std::string& name) {
  return JsonStatus(ReadFixture(name));
}

Status MakeStatus(const std::string& state, bool online, std::string relay,
                  std::vector<std::string> health) {
  Status s;
  s.backend_state_name = state;
  s.backend_state = BackendStateFromName(state);
  s.self_online = online;
  s.self_relay = std::move(relay);
  s.health = std::move(health);
  return s;
}

Prefs Running() {
  Prefs p;
  p.want_running = true;
  return p;
}

HealthState Warnings(std::vector<std::string> codes) {
  HealthState h;
  for (auto& code : codes) {
    HealthWarning w;
    w.code = code;
    w.text = "text of " + code;
    h.warnings[code] = w;
  }
  return h;
}

std::vector<std::string> Codes(const HealthVerdict& v) {
  std::vector<std::string> out;
  for (const auto& r : v.reasons) out.push_back(r.code);
  return out;
}

const MonoTime kNow = MonoTime{} + std::chrono::hours(100);

struct Case {
  std::string name;
  HealthInputs inputs;
  HealthKind want_kind;
  std::vector<std::string> want_codes;
};

HealthInputs Inputs(Status status, std::optional<HealthState> bus = {},
                    std::optional<Prefs> prefs = Running(),
                    bool uplink = true) {
  HealthInputs in;
  in.status = std::move(status);
  in.bus_health = std::move(bus);
  in.prefs = std::move(prefs);
  in.uplink_usable = uplink;
  in.now = kNow;
  in.start_timeout = seconds(60);
  return in;
}

HealthInputs StartedAgo(HealthInputs in, seconds ago) {
  in.starting_since = kNow - ago;
  return in;
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

  HealthInputs unreachable;
  unreachable.unreachable_error = "connect: No such file or directory";
  // systemd says tailscaled's unit was stopped: the admin's intent (issue
  // 14, defect 3); with an answer, the answer wins.
  HealthInputs stopped_unit = unreachable;
  stopped_unit.stopped_service = "tailscaled.service";
  HealthInputs stopped_unit_but_answering = Inputs(openwrt);
  stopped_unit_but_answering.stopped_service = "tailscaled.service";
  HealthInputs bus_stopped = Inputs(openwrt);
  bus_stopped.bus_state = BackendState::kStopped;

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
      // --- legacy (pre-1.70) texts ------------------------------------------
      {"pre-1.70 terse strings",
       Inputs(MakeStatus("Running", true, "fra",
                         {"not in map poll", "no DERP home"})),
       HealthKind::kDegraded,
       {"no-derp-home", "not-in-map-poll"}},
      {"pre-1.70 strings in the other order",
       Inputs(MakeStatus("Running", true, "fra",
                         {"no DERP home", "not in map poll"})),
       HealthKind::kDegraded,
       {"no-derp-home", "not-in-map-poll"}},
      {"pre-1.70 derp region texts",
       Inputs(MakeStatus("Running", true, "fra",
                         {"haven't heard from home DERP region 4 in 3m0s",
                          "not connected to home DERP region 4",
                          "no map response in 2m30s"})),
       HealthKind::kDegraded,
       {"derp-timed-out", "mapresponse-timeout", "no-derp-connection"}},
      {"pre-1.70 network down while our uplink is usable",
       Inputs(MakeStatus("Running", true, "fra", {"network down"})),
       HealthKind::kDegraded,
       {"network-status"}},
      {"network down never counts while our uplink is down",
       Inputs(MakeStatus("Running", true, "fra", {"network down"}), {},
              Running(), /*uplink=*/false),
       HealthKind::kHealthy,
       {}},
      {"structured network-status ignored while our uplink is down",
       Inputs(MakeStatus("Running", true, "fra", {}),
              Warnings({"network-status"}), Running(), false),
       HealthKind::kHealthy,
       {}},
      {"pre-1.70 stopped text is user intent",
       Inputs(MakeStatus("Running", false, "",
                         {"state=Stopped, wantRunning=false"})),
       HealthKind::kUserIntentOff,
       {"want-running-false"}},
      {"route programming failure",
       Inputs(
           MakeStatus("Running", true, "fra",
                      {"11 add route failures; first was: network is down"})),
       HealthKind::kDegraded,
       {"router"}},
      {"1.70+ relay-by-id text",
       Inputs(
           MakeStatus("Running", true, "fra",
                      {"Tailscale could not connect to the relay server with "
                       "ID '900'. Your Internet connection might be down."})),
       HealthKind::kDegraded,
       {"no-derp-connection"}},
      // --- Health null vs [] and benign texts --------------------------------
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
      {"benign texts never count",
       Inputs(MakeStatus(
           "Running", true, "fra",
           {"Some peers are advertising routes but --accept-routes is false",
            "An update from version 1.98.3 to 1.102.3 is available.",
            "This is an unstable version of Tailscale meant for testing and "
            "development purposes.",
            "Tailscale SSH enabled, but access controls don't allow anyone to "
            "access this device."})),
       HealthKind::kHealthy,
       {}},
      {"benign structured codes never count",
       Inputs(MakeStatus("Running", true, "fra", {}),
              Warnings({"update-available", "dns-forward-failing",
                        "control-health.x", "login-state"})),
       HealthKind::kHealthy,
       {}},
      // --- Self.Online and states -----------------------------------------
      {"running but Self.Online false, no warnings yet",
       Inputs(MakeStatus("Running", false, "fra", {})),
       HealthKind::kDegraded,
       {"offline"}},
      {"stopped",
       Inputs(MakeStatus("Stopped", false, "", {"Tailscale is stopped."})),
       HealthKind::kUserIntentOff,
       {"stopped"}},
      {"needs login",
       Inputs(MakeStatus("NeedsLogin", false, "", {})),
       HealthKind::kUserIntentOff,
       {"needs-login"}},
      {"needs machine auth",
       Inputs(MakeStatus("NeedsMachineAuth", false, "", {})),
       HealthKind::kUserIntentOff,
       {"needs-machine-auth"}},
      {"WantRunning false in prefs",
       Inputs(MakeStatus("Running", false, "fra", {}), {}, Prefs{}),
       HealthKind::kUserIntentOff,
       {"want-running-false"}},
      {"bus State overrides status",
       bus_stopped,
       HealthKind::kUserIntentOff,
       {"stopped"}},
      {"NoState just seen",
       Inputs(MakeStatus("NoState", false, "", {})),
       HealthKind::kStarting,
       {"starting"}},
      {"NoState past start_timeout",
       StartedAgo(Inputs(MakeStatus("NoState", false, "", {})), seconds(61)),
       HealthKind::kDegraded,
       {"stuck-starting", "no-relay"}},
      {"Starting with empty Relay within timeout",
       StartedAgo(Inputs(MakeStatus("Starting", true, "", {})), seconds(59)),
       HealthKind::kStarting,
       {"starting"}},
      {"Starting with a Relay past timeout has no no-relay reason",
       StartedAgo(Inputs(MakeStatus("Starting", true, "fra", {})), seconds(90)),
       HealthKind::kDegraded,
       {"stuck-starting"}},
      {"warming-up hides other warnings",
       Inputs(MakeStatus("Running", false, "fra", {}),
              Warnings({"warming-up", "no-derp-home"})),
       HealthKind::kStarting,
       {"warming-up"}},
      {"legacy warming-up text",
       Inputs(MakeStatus("Running", true, "fra",
                         {"Tailscale is starting. Please wait."})),
       HealthKind::kStarting,
       {"warming-up"}},
      {"unknown BackendState",
       Inputs(MakeStatus("Frobnicating", true, "fra", {})),
       HealthKind::kDegraded,
       {"unknown-state"}},
      {"no answer", unreachable, HealthKind::kUnreachable, {"unreachable"}},
      {"no answer, the unit stopped on purpose",
       stopped_unit,
       HealthKind::kUserIntentOff,
       {"service-stopped"}},
      {"an answer wins over a stale unit state", stopped_unit_but_answering,
       ClassifyHealth(Inputs(openwrt)).kind,
       Codes(ClassifyHealth(Inputs(openwrt)))},
  };
}

TEST(HealthTest, ClassifiesEveryCase) {
  for (const auto& c : Cases()) {
    SCOPED_TRACE(c.name);
    const HealthVerdict v = ClassifyHealth(c.inputs);
    EXPECT_EQ(HealthKindName(v.kind), HealthKindName(c.want_kind))
        << v.Describe();
    EXPECT_EQ(Codes(v), c.want_codes) << v.Describe();
  }
}

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
      ASSERT_TRUE(notify.ok()) << notify.error();
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

TEST(HealthTest, LegacyCodesMapBothEras) {
  EXPECT_EQ(LegacyHealthCode("Tailscale could not connect to any relay server. "
                             "Check your Internet connection."),
            "no-derp-home");
  EXPECT_EQ(LegacyHealthCode("no DERP home"), "no-derp-home");
  EXPECT_EQ(LegacyHealthCode("Some peers are advertising routes but "
                             "--accept-routes is false"),
            "");
  EXPECT_TRUE(IsActionableWarningCode("mapresponse-timeout"));
  EXPECT_FALSE(IsActionableWarningCode("update-available"));
  EXPECT_FALSE(IsActionableWarningCode("warming-up"));
}

TEST(HealthTest, DescribeIsOneLineWithReasons) {
  HealthVerdict v{HealthKind::kDegraded,
                  {{"offline", "Self.Online is false"}, {"router", "x"}}};
  EXPECT_EQ(v.Describe(),
            "degraded: offline (Self.Online is false); router (x)");
  EXPECT_EQ((HealthVerdict{HealthKind::kHealthy, {}}.Describe()), "healthy");
}

}  // namespace
}  // namespace watchdog
