#include "watchdog/daemon/metrics.h"

#include <gtest/gtest.h>

#include <chrono>

namespace watchdog {
namespace {

using std::chrono::milliseconds;

// "Now": 1795325400.250 on the wall clock, 1000 s on the monotonic one.
ClockPair Clocks() {
  ClockPair clocks;
  clocks.wall = std::chrono::system_clock::time_point(
      milliseconds(int64_t{1795325400250}));
  clocks.mono = MonoTime(std::chrono::seconds(1000));
  return clocks;
}

netlink::Egress UsableEgress() {
  netlink::Egress egress;
  egress.present = true;
  egress.dev = "wan0";
  egress.source = netlink::IpAddress::Parse("192.0.2.2");
  egress.link_up = egress.carrier = egress.source_usable = true;
  return egress;
}

Snapshot Sample() {
  Snapshot snapshot;
  snapshot.state = State::kRecovering;
  snapshot.since = Clocks().mono - milliseconds(98088);  // 1795325302.162
  snapshot.uplink.v4 = UsableEgress();
  snapshot.tailscale.verdict = HealthVerdict{HealthKind::kDegraded, {}};
  snapshot.counters.uplink_changes = 3;
  snapshot.counters.actions = {{LadderStep::kRebind, 4},
                               {LadderStep::kStart, 1}};
  snapshot.counters.recoveries = 2;
  snapshot.counters.disruptive_skipped = 1;
  snapshot.counters.gave_up = 5;
  snapshot.exhausted_passes = 2;
  snapshot.disruptive_last_hour = 3;
  snapshot.max_disruptive_per_hour = 3;
  snapshot.last_time_to_recover = milliseconds(4100);
  return snapshot;
}

std::string Render(const Snapshot& snapshot) {
  return RenderMetrics(snapshot, Clocks(), std::chrono::seconds(60));
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos ||
         text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, PrometheusTextFromTheStateSnapshot) {
  const std::string text = Render(Sample());
  EXPECT_TRUE(Has(text, "tswatchdog_state{state=\"recovering\"} 1")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_state{state=\"healthy\"} 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_uplink_usable{family=\"v4\"} 1")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_uplink_usable{family=\"v6\"} 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_tailscale_healthy 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_uplink_changes_total 3")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_actions_total{step=\"rebind\"} 4")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_actions_total{step=\"reup\"} 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_recoveries_total 2")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_disruptive_skipped_total 1")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_last_time_to_recover_seconds 4.100"))
      << text;
  EXPECT_TRUE(
      Has(text, "tswatchdog_state_since_timestamp_seconds 1795325302.162"))
      << text;
  EXPECT_TRUE(Has(text, "# TYPE tswatchdog_recoveries_total counter")) << text;
}

// The connection verdicts and the diagnosis (issue 12 item 6).
TEST(Metrics, ConnectionVerdictsAndTheDiagnosis) {
  Snapshot snapshot = Sample();
  snapshot.evidence.known = true;
  for (auto [kind, verdict] :
       {std::pair{ConnectionKind::kControl, Verdict::kDead},
        std::pair{ConnectionKind::kDerp, Verdict::kLive},
        std::pair{ConnectionKind::kDerp, Verdict::kLive},
        std::pair{ConnectionKind::kOther, Verdict::kLive}}) {
    JudgedConnection connection;
    connection.kind = kind;
    connection.verdict = verdict;
    snapshot.evidence.connections.push_back(connection);
  }
  snapshot.diagnosis.fault = Fault::kControl;
  const std::string text = Render(snapshot);
  EXPECT_TRUE(Has(text, "tswatchdog_connection_evidence_known 1")) << text;
  EXPECT_TRUE(
      Has(text, "tswatchdog_connections{kind=\"control\",verdict=\"dead\"} 1"))
      << text;
  EXPECT_TRUE(
      Has(text, "tswatchdog_connections{kind=\"control\",verdict=\"live\"} 0"))
      << text;
  EXPECT_TRUE(
      Has(text, "tswatchdog_connections{kind=\"derp\",verdict=\"live\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "tswatchdog_diagnosis_fault{fault=\"control\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "tswatchdog_diagnosis_fault{fault=\"derp\"} 0"))
      << text;
  // Before any check: unknown, no fault.
  const std::string before = Render(Sample());
  EXPECT_TRUE(Has(before, "tswatchdog_connection_evidence_known 0")) << before;
  EXPECT_TRUE(Has(before, "tswatchdog_diagnosis_fault{fault=\"control\"} 0"))
      << before;
}

// What the alert rules in contrib/prometheus/ read.
TEST(Metrics, WhatTheAlertsRead) {
  const std::string text = Render(Sample());
  EXPECT_TRUE(Has(text, "tswatchdog_gave_up_total 5")) << text;
  EXPECT_TRUE(Has(text, "# TYPE tswatchdog_gave_up_total counter")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_ladder_exhausted_passes 2")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_disruptive_steps_last_hour 3")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_max_disruptive_per_hour 3")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_updated_timestamp_seconds 1795325400.250"))
      << text;
  EXPECT_TRUE(Has(text, "tswatchdog_metrics_interval_seconds 60.000")) << text;
  EXPECT_TRUE(Has(RenderMetrics(Sample(), Clocks(), milliseconds(1500)),
                  "tswatchdog_metrics_interval_seconds 1.500"));
}

TEST(Metrics, EveryLineIsACommentOrASample) {
  // The textfile collector rejects a whole file with one bad line.
  const std::string text = Render(Sample());
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "last line not terminated";
    std::string line = text.substr(start, end - start);
    if (line[0] != '#') {
      EXPECT_EQ(line.rfind("tswatchdog_", 0), 0u) << line;
      EXPECT_NE(line.find(' '), std::string::npos) << line;
    }
    start = end + 1;
  }
}

TEST(Metrics, BeforeTailscaledAnsweredEverySampleIsZero) {
  // The daemon's first snapshot: no verdict yet, no uplink, nothing counted.
  Snapshot first;
  first.since = Clocks().mono;
  const std::string text = Render(first);
  EXPECT_TRUE(Has(text, "tswatchdog_state{state=\"starting\"} 1")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_state{state=\"healthy\"} 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_tailscale_healthy 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_uplink_usable{family=\"v6\"} 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_actions_total{step=\"conntrack\"} 0"))
      << text;
  EXPECT_TRUE(Has(text, "tswatchdog_recoveries_total 0")) << text;
}

TEST(Metrics, AHealthyVerdictIsOne) {
  Snapshot snapshot = Sample();
  snapshot.tailscale.verdict = HealthVerdict{HealthKind::kHealthy, {}};
  EXPECT_TRUE(Has(Render(snapshot), "tswatchdog_tailscale_healthy 1"));
}

TEST(Metrics, NoRecoveryYetOmitsItsGauge) {
  Snapshot snapshot = Sample();
  snapshot.last_time_to_recover.reset();
  EXPECT_EQ(Render(snapshot).find("last_time_to_recover"), std::string::npos);
}

}  // namespace
}  // namespace watchdog
