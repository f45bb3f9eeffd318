#include "watchdog/daemon/metrics.h"

#include <fmt/format.h>

#include "watchdog/core/machine.h"
#include "watchdog/daemon/mwan3_json.h"

namespace watchdog {
namespace {

void Family(std::string* out, const char* name, const char* type,
            const char* help) {
  *out += fmt::format("# HELP tswatchdog_{} {}\n# TYPE tswatchdog_{} {}\n",
                      name, help, name, type);
}

// Reads without throwing: json::value() throws when the key holds another
// type (a null verdict before tailscaled answered, for one).
std::string String(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

double Number(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : 0;
}

bool Bool(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

const nlohmann::json& Object(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  if (!object.is_object()) return kEmpty;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

// A family with one unlabelled sample.
void Single(std::string* out, const char* name, const char* type,
            const char* help, double value, const char* format = "{}") {
  Family(out, name, type, help);
  *out += fmt::format("tswatchdog_{} ", name);
  *out += fmt::format(fmt::runtime(format), value);
  *out += "\n";
}

void RenderStateAndHealth(std::string* out, const nlohmann::json& state) {
  Family(out, "state", "gauge", "1 for the watchdog's current state.");
  const std::string current = String(state, "state");
  for (State s : {State::kStarting, State::kNoUplink, State::kSettling,
                  State::kVerifying, State::kHealthy, State::kRecovering,
                  State::kCooldown, State::kSuppressed}) {
    const std::string name(StateName(s));
    *out += fmt::format("tswatchdog_state{{state=\"{}\"}} {}\n", name,
                        name == current ? 1 : 0);
  }
  if (Number(state, "since_unix_ms") > 0) {
    Single(out, "state_since_timestamp_seconds", "gauge",
           "When the current state began (Unix time).",
           Number(state, "since_unix_ms") / 1000, "{:.3f}");
  }
  Family(out, "uplink_usable", "gauge",
         "1 when the egress tailscaled's packets would use is usable.");
  for (const char* family : {"v4", "v6"}) {
    const bool usable = Bool(Object(Object(state, "uplink"), family), "usable");
    *out += fmt::format("tswatchdog_uplink_usable{{family=\"{}\"}} {}\n",
                        family, usable ? 1 : 0);
  }
  Single(out, "tailscale_healthy", "gauge",
         "1 when tailscaled's last verdict was healthy.",
         String(Object(state, "tailscale"), "verdict") == "healthy" ? 1 : 0);
}

void RenderCounters(std::string* out, const nlohmann::json& state) {
  const nlohmann::json& counters = Object(state, "counters");
  Single(out, "uplink_changes_total", "counter", "Uplink changes seen.",
         Number(counters, "uplink_changes"));
  Family(out, "actions_total", "counter",
         "Recovery steps issued, by step (soft kicks included).");
  for (const char* step : {"rebind", "start", "reup", "restart", "conntrack"}) {
    *out += fmt::format("tswatchdog_actions_total{{step=\"{}\"}} {}\n", step,
                        Number(Object(counters, "actions"), step));
  }
  Single(out, "recoveries_total", "counter",
         "Times tailscaled became healthy again after the watchdog acted.",
         Number(counters, "recoveries"));
  Single(out, "gave_up_total", "counter",
         "Ladder passes that ended without healing (each followed by a "
         "cooldown).",
         Number(counters, "gave_up"));
  Single(out, "disruptive_skipped_total", "counter",
         "Disruptive steps skipped by max_disruptive_per_hour.",
         Number(counters, "disruptive_skipped"));
}

// The connection check and the diagnosis (issue 12): how many of
// tailscaled's control and DERP connections have each verdict, whether the
// socket dump worked, and the fault the diagnosis found.
void RenderDiagnosis(std::string* out, const nlohmann::json& state) {
  const nlohmann::json& connections = Object(state, "connections");
  Single(out, "connection_evidence_known", "gauge",
         "1 when the last check of tailscaled's sockets worked.",
         Bool(connections, "known") ? 1 : 0);
  Family(out, "connections", "gauge",
         "tailscaled's control and DERP connections at the last check, by "
         "verdict.");
  const auto list_it = connections.find("list");
  for (const char* kind : {"control", "derp"}) {
    for (const char* verdict : {"live", "suspect", "dead", "unknown"}) {
      int n = 0;
      if (list_it != connections.end() && list_it->is_array()) {
        for (const nlohmann::json& c : *list_it) {
          n += String(c, "kind") == kind && String(c, "verdict") == verdict;
        }
      }
      *out += fmt::format(
          "tswatchdog_connections{{kind=\"{}\",verdict=\"{}\"}} {}\n", kind,
          verdict, n);
    }
  }
  Family(out, "diagnosis_fault", "gauge",
         "1 for the fault the diagnosis found (none: all 0).");
  const std::string fault = String(Object(state, "diagnosis"), "fault");
  for (const char* name : {"localapi", "control", "router", "derp"}) {
    *out += fmt::format("tswatchdog_diagnosis_fault{{fault=\"{}\"}} {}\n", name,
                        fault == name ? 1 : 0);
  }
}

}  // namespace

std::string RenderMetrics(const nlohmann::json& state,
                          std::chrono::milliseconds interval) {
  std::string out;
  RenderStateAndHealth(&out, state);
  RenderCounters(&out, state);
  RenderDiagnosis(&out, state);
  Single(&out, "ladder_exhausted_passes", "gauge",
         "Ladder passes in a row that ended without healing; 0 once "
         "tailscaled is healthy again.",
         Number(state, "exhausted_passes"));
  Single(&out, "disruptive_steps_last_hour", "gauge",
         "Disruptive steps (reup, restart) issued in the last hour.",
         Number(state, "disruptive_last_hour"));
  Single(&out, "max_disruptive_per_hour", "gauge",
         "The hourly budget of disruptive steps (max_disruptive_per_hour).",
         Number(state, "max_disruptive_per_hour"));
  if (state.contains("last_time_to_recover_ms") &&
      state["last_time_to_recover_ms"].is_number()) {
    Single(&out, "last_time_to_recover_seconds", "gauge",
           "From the start of the last recovered episode to healthy.",
           Number(state, "last_time_to_recover_ms") / 1000, "{:.3f}");
  }
  if (Number(state, "updated_unix_ms") > 0) {
    Single(&out, "updated_timestamp_seconds", "gauge",
           "When the daemon wrote this file (Unix time); rewritten at least "
           "every metrics_interval.",
           Number(state, "updated_unix_ms") / 1000, "{:.3f}");
  }
  Single(&out, "metrics_interval_seconds", "gauge",
         "The longest time between two writes of this file while the daemon "
         "runs (metrics_interval).",
         std::chrono::duration<double>(interval).count(), "{:.3f}");
  RenderMwan3Metrics(state, &out);
  return out;
}

}  // namespace watchdog
