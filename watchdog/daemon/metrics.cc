#include "watchdog/daemon/metrics.h"

#include <fmt/format.h>

#include <algorithm>

#include "watchdog/daemon/mwan3_json.h"

namespace watchdog {
namespace {

void Family(std::string* out, const char* name, const char* type,
            const char* help) {
  *out += fmt::format("# HELP tswatchdog_{} {}\n# TYPE tswatchdog_{} {}\n",
                      name, help, name, type);
}

// A family with one unlabelled sample.
void Single(std::string* out, const char* name, const char* type,
            const char* help, double value, const char* format = "{}") {
  Family(out, name, type, help);
  *out += fmt::format("tswatchdog_{} ", name);
  *out += fmt::format(fmt::runtime(format), value);
  *out += "\n";
}

double Seconds(std::chrono::milliseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

double UnixSeconds(std::chrono::system_clock::time_point time) {
  return static_cast<double>(UnixMs(time)) / 1000;
}

void RenderStateAndHealth(std::string* out, const Snapshot& snapshot,
                          const ClockPair& clocks) {
  Family(out, "state", "gauge", "1 for the watchdog's current state.");
  for (State s : {State::kStarting, State::kNoUplink, State::kSettling,
                  State::kVerifying, State::kHealthy, State::kRecovering,
                  State::kCooldown, State::kSuppressed}) {
    *out += fmt::format("tswatchdog_state{{state=\"{}\"}} {}\n", StateName(s),
                        s == snapshot.state ? 1 : 0);
  }
  Single(out, "state_since_timestamp_seconds", "gauge",
         "When the current state began (Unix time).",
         UnixSeconds(clocks.ToWall(snapshot.since)), "{:.3f}");
  Family(out, "uplink_usable", "gauge",
         "1 when the egress tailscaled's packets would use is usable.");
  *out += fmt::format("tswatchdog_uplink_usable{{family=\"v4\"}} {}\n",
                      snapshot.uplink.v4.usable() ? 1 : 0);
  *out += fmt::format("tswatchdog_uplink_usable{{family=\"v6\"}} {}\n",
                      snapshot.uplink.v6.usable() ? 1 : 0);
  const auto& verdict = snapshot.tailscale.verdict;
  Single(out, "tailscale_healthy", "gauge",
         "1 when tailscaled's last verdict was healthy.",
         verdict && verdict->kind == HealthKind::kHealthy ? 1 : 0);
}

void RenderCounters(std::string* out, const Counters& counters) {
  Single(out, "uplink_changes_total", "counter", "Uplink changes seen.",
         static_cast<double>(counters.uplink_changes));
  Family(out, "actions_total", "counter",
         "Recovery steps issued, by step (soft kicks included).");
  for (LadderStep step : kAllSteps) {
    auto it = counters.actions.find(step);
    *out += fmt::format("tswatchdog_actions_total{{step=\"{}\"}} {}\n",
                        StepName(step),
                        it == counters.actions.end() ? 0 : it->second);
  }
  Single(out, "recoveries_total", "counter",
         "Times tailscaled became healthy again after the watchdog acted.",
         static_cast<double>(counters.recoveries));
  Single(out, "gave_up_total", "counter",
         "Ladder passes that ended without healing (each followed by a "
         "cooldown).",
         static_cast<double>(counters.gave_up));
  Single(out, "disruptive_skipped_total", "counter",
         "Disruptive steps skipped by max_disruptive_per_hour.",
         static_cast<double>(counters.disruptive_skipped));
}

// The connection check and the diagnosis (issue 12): how many of
// tailscaled's control and DERP connections have each verdict, whether the
// socket dump worked, and the fault the diagnosis found.
void RenderDiagnosis(std::string* out, const Evidence& evidence,
                     const Diagnosis& diagnosis) {
  Single(out, "connection_evidence_known", "gauge",
         "1 when the last check of tailscaled's sockets worked.",
         evidence.known ? 1 : 0);
  Family(out, "connections", "gauge",
         "tailscaled's control and DERP connections at the last check, by "
         "verdict.");
  for (ConnectionKind kind :
       {ConnectionKind::kControl, ConnectionKind::kDerp}) {
    for (Verdict verdict : {Verdict::kLive, Verdict::kSuspect, Verdict::kDead,
                            Verdict::kUnknown}) {
      const auto n = std::count_if(
          evidence.connections.begin(), evidence.connections.end(),
          [&](const JudgedConnection& c) {
            return c.kind == kind && c.verdict == verdict;
          });
      *out += fmt::format(
          "tswatchdog_connections{{kind=\"{}\",verdict=\"{}\"}} {}\n",
          kind == ConnectionKind::kControl ? "control" : "derp",
          VerdictName(verdict), n);
    }
  }
  Family(out, "diagnosis_fault", "gauge",
         "1 for the fault the diagnosis found (none: all 0).");
  for (Fault fault :
       {Fault::kLocalApi, Fault::kControl, Fault::kRouter, Fault::kDerp}) {
    *out += fmt::format("tswatchdog_diagnosis_fault{{fault=\"{}\"}} {}\n",
                        FaultName(fault), diagnosis.fault == fault ? 1 : 0);
  }
}

}  // namespace

std::string RenderMetrics(const Snapshot& snapshot, const ClockPair& clocks,
                          std::chrono::milliseconds interval) {
  std::string out;
  RenderStateAndHealth(&out, snapshot, clocks);
  RenderCounters(&out, snapshot.counters);
  RenderDiagnosis(&out, snapshot.evidence, snapshot.diagnosis);
  Single(&out, "ladder_exhausted_passes", "gauge",
         "Ladder passes in a row that ended without healing; 0 once "
         "tailscaled is healthy again.",
         snapshot.exhausted_passes);
  Single(&out, "disruptive_steps_last_hour", "gauge",
         "Disruptive steps (reup, restart) issued in the last hour.",
         snapshot.disruptive_last_hour);
  Single(&out, "max_disruptive_per_hour", "gauge",
         "The hourly budget of disruptive steps (max_disruptive_per_hour).",
         snapshot.max_disruptive_per_hour);
  if (snapshot.last_time_to_recover) {
    Single(&out, "last_time_to_recover_seconds", "gauge",
           "From the start of the last recovered episode to healthy.",
           Seconds(*snapshot.last_time_to_recover), "{:.3f}");
  }
  Single(&out, "updated_timestamp_seconds", "gauge",
         "When the daemon wrote this file (Unix time); rewritten at least "
         "every metrics_interval.",
         UnixSeconds(clocks.wall), "{:.3f}");
  Single(&out, "metrics_interval_seconds", "gauge",
         "The longest time between two writes of this file while the daemon "
         "runs (metrics_interval).",
         Seconds(interval), "{:.3f}");
  if (snapshot.mwan3) RenderMwan3Metrics(*snapshot.mwan3, &out);
  return out;
}

}  // namespace watchdog
