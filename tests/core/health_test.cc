// Table-driven tests of the health classifier over hand-written inputs
// (legacy texts, ordering, user intent, states, ...). The cases built from
// tailscaled's recorded replies are in tests/localapi/health_fixtures_test.cc.
#include "watchdog/core/health.h"

#include <gtest/gtest.h>

#include "tests/core/health_cases.h"

namespace watchdog::health_cases {
namespace {

std::vector<Case> Cases() {
  const Status running = MakeStatus("Running", true, "fra", {});
  HealthInputs unreachable;
  unreachable.unreachable_error = "connect: No such file or directory";
  // systemd says tailscaled's unit was stopped: the admin's intent (issue
  // 14, defect 3); with an answer, the answer wins.
  HealthInputs stopped_unit = unreachable;
  stopped_unit.stopped_service = "tailscaled.service";
  HealthInputs stopped_unit_but_answering = Inputs(running);
  stopped_unit_but_answering.stopped_service = "tailscaled.service";
  HealthInputs bus_stopped = Inputs(running);
  bus_stopped.bus_state = BackendState::kStopped;

  return {
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
      // --- benign texts
      // ---------------------------------------------------------
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
      {"an answer wins over a stale unit state",
       stopped_unit_but_answering,
       HealthKind::kHealthy,
       {}},
  };
}

TEST(HealthTest, ClassifiesEveryCase) { ExpectCases(Cases()); }

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
}  // namespace watchdog::health_cases
