// The metrics file: Prometheus text exposition format for node_exporter's
// textfile collector, rendered from the same snapshot as the state file and
// written atomically beside it (node_exporter must never read half a file).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_METRICS_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_METRICS_H_

#include <nlohmann/json.hpp>
#include <string>

namespace watchdog {

// `state` is the state file's JSON (StateJson, snapshot.h). Metrics (all
// prefixed tswatchdog_): state{state=...} (1 for the current state, 0 for the
// others), uplink_usable{family}, tailscale_healthy, uplink_changes_total,
// actions_total{step}, recoveries_total, disruptive_skipped_total,
// last_time_to_recover_seconds, state_since_timestamp_seconds.
std::string RenderMetrics(const nlohmann::json& state);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_METRICS_H_
