#include "watchdog/daemon/metrics.h"

#include <gtest/gtest.h>

#include <chrono>

namespace watchdog {
namespace {

nlohmann::json SampleState() {
  return nlohmann::json::parse(R"({
    "state": "recovering", "since_unix_ms": 1795325302162,
    "uplink": {"v4": {"usable": true}, "v6": {"usable": false}},
    "tailscale": {"verdict": "degraded"},
    "counters": {"uplink_changes": 3, "actions": {"rebind": 4, "start": 1},
                 "recoveries": 2, "disruptive_skipped": 1, "gave_up": 5},
    "exhausted_passes": 2, "disruptive_last_hour": 3,
    "max_disruptive_per_hour": 3,
    "updated_unix_ms": 1795325400250,
    "last_time_to_recover_ms": 4100
  })");
}

std::string Render(const nlohmann::json& state) {
  return RenderMetrics(state, std::chrono::seconds(60));
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos ||
         text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, PrometheusTextFromTheStateSnapshot) {
  const std::string text = Render(SampleState());
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
  nlohmann::json state = SampleState();
  state["connections"] = nlohmann::json::parse(R"({"known": true, "list": [
      {"kind": "control", "verdict": "dead"},
      {"kind": "derp", "verdict": "live"},
      {"kind": "derp", "verdict": "live"}]})");
  state["diagnosis"] = {{"fault", "control"}};
  const std::string text = Render(state);
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
  const std::string before = Render(SampleState());
  EXPECT_TRUE(Has(before, "tswatchdog_connection_evidence_known 0")) << before;
  EXPECT_TRUE(Has(before, "tswatchdog_diagnosis_fault{fault=\"control\"} 0"))
      << before;
}

// What the alert rules in contrib/prometheus/ read.
TEST(Metrics, WhatTheAlertsRead) {
  const std::string text = Render(SampleState());
  EXPECT_TRUE(Has(text, "tswatchdog_gave_up_total 5")) << text;
  EXPECT_TRUE(Has(text, "# TYPE tswatchdog_gave_up_total counter")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_ladder_exhausted_passes 2")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_disruptive_steps_last_hour 3")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_max_disruptive_per_hour 3")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_updated_timestamp_seconds 1795325400.250"))
      << text;
  EXPECT_TRUE(Has(text, "tswatchdog_metrics_interval_seconds 60.000")) << text;
  EXPECT_TRUE(Has(RenderMetrics(SampleState(), std::chrono::milliseconds(1500)),
                  "tswatchdog_metrics_interval_seconds 1.500"));
}

TEST(Metrics, EveryLineIsACommentOrASample) {
  // The textfile collector rejects a whole file with one bad line.
  const std::string text = Render(SampleState());
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

TEST(Metrics, BeforeTailscaledAnsweredNullsAndGapsAreFine) {
  // The daemon's first snapshot: no verdict yet, nothing counted.
  auto state = nlohmann::json::parse(R"({"state": "starting",
      "tailscale": {"verdict": null}, "uplink": {"v4": {"usable": null}},
      "counters": {"actions": {}}, "last_time_to_recover_ms": null})");
  const std::string text = Render(state);
  EXPECT_TRUE(Has(text, "tswatchdog_state{state=\"starting\"} 1")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_tailscale_healthy 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_uplink_usable{family=\"v6\"} 0")) << text;
  EXPECT_TRUE(Has(text, "tswatchdog_recoveries_total 0")) << text;
  // Not even an object: every sample still renders, as zero.
  EXPECT_TRUE(Has(Render(nlohmann::json::array()),
                  "tswatchdog_state{state=\"starting\"} 0"));
}

TEST(Metrics, NoRecoveryYetOmitsItsGauge) {
  auto state = SampleState();
  state["last_time_to_recover_ms"] = nullptr;
  EXPECT_EQ(Render(state).find("last_time_to_recover"), std::string::npos);
}

}  // namespace
}  // namespace watchdog
