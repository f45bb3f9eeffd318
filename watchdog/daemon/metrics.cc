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

}  // namespace

std::string RenderMetrics(const nlohmann::json& state) {
  std::string out;
  Family(&out, "state", "gauge", "1 for the watchdog's current state.");
  const std::string current = String(state, "state");
  for (State s : {State::kStarting, State::kNoUplink, State::kSettling,
                  State::kVerifying, State::kHealthy, State::kRecovering,
                  State::kCooldown, State::kSuppressed}) {
    const std::string name(StateName(s));
    out += fmt::format("tswatchdog_state{{state=\"{}\"}} {}\n", name,
                       name == current ? 1 : 0);
  }
  if (Number(state, "since_unix_ms") > 0) {
    Family(&out, "state_since_timestamp_seconds", "gauge",
           "When the current state began (Unix time).");
    out += fmt::format("tswatchdog_state_since_timestamp_seconds {:.3f}\n",
                       Number(state, "since_unix_ms") / 1000);
  }
  Family(&out, "uplink_usable", "gauge",
         "1 when the egress tailscaled's packets would use is usable.");
  for (const char* family : {"v4", "v6"}) {
    const bool usable = Bool(Object(Object(state, "uplink"), family), "usable");
    out += fmt::format("tswatchdog_uplink_usable{{family=\"{}\"}} {}\n", family,
                       usable ? 1 : 0);
  }
  Family(&out, "tailscale_healthy", "gauge",
         "1 when tailscaled's last verdict was healthy.");
  out += fmt::format(
      "tswatchdog_tailscale_healthy {}\n",
      String(Object(state, "tailscale"), "verdict") == "healthy" ? 1 : 0);
  const nlohmann::json& counters = Object(state, "counters");
  Family(&out, "uplink_changes_total", "counter", "Uplink changes seen.");
  out += fmt::format("tswatchdog_uplink_changes_total {}\n",
                     Number(counters, "uplink_changes"));
  Family(&out, "actions_total", "counter",
         "Recovery steps issued, by step (soft kicks included).");
  for (const char* step : {"rebind", "start", "reup", "restart", "conntrack"}) {
    out += fmt::format("tswatchdog_actions_total{{step=\"{}\"}} {}\n", step,
                       Number(Object(counters, "actions"), step));
  }
  Family(&out, "recoveries_total", "counter",
         "Times tailscaled became healthy again after the watchdog acted.");
  out += fmt::format("tswatchdog_recoveries_total {}\n",
                     Number(counters, "recoveries"));
  Family(&out, "disruptive_skipped_total", "counter",
         "Disruptive steps skipped by max_disruptive_per_hour.");
  out += fmt::format("tswatchdog_disruptive_skipped_total {}\n",
                     Number(counters, "disruptive_skipped"));
  if (state.contains("last_time_to_recover_ms") &&
      state["last_time_to_recover_ms"].is_number()) {
    Family(&out, "last_time_to_recover_seconds", "gauge",
           "From the start of the last recovered episode to healthy.");
    out += fmt::format("tswatchdog_last_time_to_recover_seconds {:.3f}\n",
                       Number(state, "last_time_to_recover_ms") / 1000);
  }
  RenderMwan3Metrics(state, &out);
  return out;
}

}  // namespace watchdog
