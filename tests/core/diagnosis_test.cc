// The diagnosis (core/diagnosis.h): which fault the evidence and
// tailscaled's word point to, and which steps can fix it. Table tests.
#include "watchdog/core/diagnosis.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace watchdog {
namespace {

JudgedConnection Conn(ConnectionKind kind, Verdict verdict,
                      bool new_since_change = false) {
  JudgedConnection c;
  c.kind = kind;
  c.verdict = verdict;
  c.new_since_change = new_since_change;
  c.evidence = std::string(ConnectionKindName(kind)) + " " +
               VerdictName(verdict) + (new_since_change ? " new" : " old");
  return c;
}

HealthVerdict Degraded(std::vector<std::string> codes) {
  HealthVerdict v{HealthKind::kDegraded, {}};
  for (auto& code : codes) v.reasons.push_back({code, "detail"});
  return v;
}

const HealthVerdict kHealthy{HealthKind::kHealthy, {}};
const HealthVerdict kUnreachable{HealthKind::kUnreachable,
                                 {{"unreachable", "connect: no such file"}}};

Evidence Known(std::vector<JudgedConnection> connections,
               std::vector<Finding> findings = {}) {
  return Evidence{true, std::move(connections), std::move(findings)};
}

const Finding kMwan3ControlDead{Finding::Kind::kControlPathDead, "mwan3",
                                "wan offline"};
const Finding kMwan3Handling{Finding::Kind::kHandling, "mwan3",
                             "steering to wanb"};
const Finding kMwan3DerpDead{Finding::Kind::kDerpPathDead, "mwan3",
                             "wan offline"};

struct Case {
  const char* name;
  Evidence evidence;
  std::optional<HealthVerdict> verdict;
  std::optional<Fault> fault;
  bool confirmed;
  bool handling;
  const char* why_has;  // a substring of `why`
};

const auto kC = ConnectionKind::kControl;
const auto kD = ConnectionKind::kDerp;
const auto kO = ConnectionKind::kOther;

class DiagnoseTable : public ::testing::TestWithParam<Case> {};

TEST_P(DiagnoseTable, FindsTheFault) {
  const Case& c = GetParam();
  const Diagnosis d = Diagnose(c.evidence, c.verdict);
  EXPECT_EQ(d.fault, c.fault) << d.Describe();
  EXPECT_EQ(d.confirmed, c.confirmed) << d.Describe();
  EXPECT_EQ(d.handling, c.handling) << d.Describe();
  EXPECT_NE(d.why.find(c.why_has), std::string::npos) << d.Describe();
}

INSTANTIATE_TEST_SUITE_P(
    Diagnosis, DiagnoseTable,
    ::testing::Values(
        Case{"nothing_known", Evidence{}, std::nullopt, std::nullopt, false,
             false, ""},
        Case{"all_live_healthy",
             Known({Conn(kC, Verdict::kLive), Conn(kD, Verdict::kLive)}),
             kHealthy, std::nullopt, false, false, ""},
        Case{"unreachable_wins_over_everything",
             Known({Conn(kC, Verdict::kDead)}, {kMwan3ControlDead}),
             kUnreachable, Fault::kLocalApi, false, false, "no such file"},
        Case{"control_dead_in_the_kernel_while_tailscaled_says_healthy",
             Known({Conn(kC, Verdict::kDead), Conn(kD, Verdict::kLive)}),
             kHealthy, Fault::kControl, true, false, "control dead old"},
        Case{"control_and_derp_dead_control_first",
             Known({Conn(kD, Verdict::kDead), Conn(kC, Verdict::kDead)}),
             kHealthy, Fault::kControl, true, false, "control dead"},
        Case{"a_dead_control_beside_a_live_one_is_the_old_one_lingering",
             Known({Conn(kC, Verdict::kDead), Conn(kC, Verdict::kLive, true)}),
             kHealthy, std::nullopt, false, false, ""},
        Case{"mwan3_says_the_control_path_is_dead",
             Known({Conn(kC, Verdict::kLive)}, {kMwan3ControlDead}), kHealthy,
             Fault::kControl, true, false, "mwan3: wan offline"},
        Case{"router_warning_is_reup",
             Known({Conn(kC, Verdict::kLive), Conn(kD, Verdict::kLive)}),
             Degraded({"router"}), Fault::kRouter, false, false,
             "tailscaled says router"},
        Case{"router_warning_after_a_redial_is_still_reup",
             Known({Conn(kC, Verdict::kLive, true)}), Degraded({"router"}),
             Fault::kRouter, false, false, "tailscaled says router"},
        Case{"dead_control_before_router", Known({Conn(kC, Verdict::kDead)}),
             Degraded({"router"}), Fault::kControl, true, false,
             "control dead"},
        Case{"offline_is_control_unconfirmed",
             Known({Conn(kC, Verdict::kSuspect)}), Degraded({"offline"}),
             Fault::kControl, false, false, "tailscaled says offline"},
        Case{"offline_without_kernel_evidence", Evidence{},
             Degraded({"not-in-map-poll"}), Fault::kControl, false, false,
             "not-in-map-poll"},
        Case{"offline_but_redialed_since_the_change_is_handling",
             Known({Conn(kC, Verdict::kLive, true)}), Degraded({"offline"}),
             std::nullopt, false, true, "redialed its control connection"},
        Case{"redialed_and_healthy_is_no_episode",
             Known({Conn(kC, Verdict::kLive, true)}), kHealthy, std::nullopt,
             false, false, ""},
        Case{"mwan3_handling_with_derp_warning",
             Known({Conn(kC, Verdict::kLive)}, {kMwan3Handling}),
             Degraded({"no-derp-connection"}), Fault::kDerp, false, true,
             "handling: mwan3: steering"},
        Case{"derp_dead_alone_is_rebind",
             Known({Conn(kC, Verdict::kLive), Conn(kD, Verdict::kDead),
                    Conn(kO, Verdict::kDead)}),
             kHealthy, Fault::kDerp, true, false, "DERP dead"},
        Case{"derp_dead_beside_a_live_derp_is_nothing",
             Known({Conn(kD, Verdict::kDead), Conn(kD, Verdict::kLive, true)}),
             kHealthy, std::nullopt, false, false, ""},
        Case{"mwan3_says_the_derp_path_is_dead", Known({}, {kMwan3DerpDead}),
             kHealthy, Fault::kDerp, true, false, "mwan3"},
        Case{"derp_warning_alone", Known({Conn(kC, Verdict::kLive)}),
             Degraded({"derp-timed-out"}), Fault::kDerp, false, false,
             "derp-timed-out"},
        Case{"other_connections_do_not_count",
             Known({Conn(kO, Verdict::kDead)}), kHealthy, std::nullopt, false,
             false, ""},
        Case{"unknown_evidence_ignores_its_connections",
             Evidence{false, {Conn(kC, Verdict::kDead)}, {}}, kHealthy,
             std::nullopt, false, false, ""},
        Case{"suspect_is_no_fault", Known({Conn(kC, Verdict::kSuspect)}),
             kHealthy, std::nullopt, false, false, ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DiagnosisTest, DescribeSaysFaultConfirmationAndEvidence) {
  const Diagnosis d =
      Diagnose(Known({Conn(kC, Verdict::kDead)}), std::optional(kHealthy));
  EXPECT_EQ(d.Describe(), "control (confirmed): control dead old");
  EXPECT_EQ(Diagnose(Evidence{}, std::nullopt).Describe(), "no fault found");
}

// Which step fixes which fault: README "The diagnosis picks the step".
TEST(DiagnosisTest, StepsThatCanFixEachFault) {
  const LadderStep steps[] = {LadderStep::kRebind, LadderStep::kStart,
                              LadderStep::kReup, LadderStep::kRestart,
                              LadderStep::kConntrack};
  const struct {
    Fault fault;
    std::vector<LadderStep> fixes;
  } table[] = {
      {Fault::kLocalApi, {LadderStep::kRestart, LadderStep::kConntrack}},
      {Fault::kControl,
       {LadderStep::kStart, LadderStep::kRestart, LadderStep::kConntrack}},
      {Fault::kRouter,
       {LadderStep::kReup, LadderStep::kRestart, LadderStep::kConntrack}},
      {Fault::kDerp,
       {LadderStep::kRebind, LadderStep::kReup, LadderStep::kRestart,
        LadderStep::kConntrack}},
  };
  for (const auto& row : table) {
    for (LadderStep step : steps) {
      const bool fixes = std::find(row.fixes.begin(), row.fixes.end(), step) !=
                         row.fixes.end();
      const auto why = WhyStepCannotFix(step, row.fault);
      EXPECT_EQ(!why.has_value(), fixes)
          << StepName(step) << " for " << FaultName(row.fault);
      if (why) {
        EXPECT_NE(why->find(StepName(step)), std::string::npos) << *why;
      }
    }
  }
}

}  // namespace
}  // namespace watchdog
