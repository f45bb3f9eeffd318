// The metrics file: Prometheus text exposition format for node_exporter's
// textfile collector, rendered from the same snapshot as the state file and
// written atomically beside it (node_exporter must never read half a file).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_METRICS_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_METRICS_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace watchdog {

// `state` is the state file's JSON (StateJson, snapshot.h); `interval` is
// metrics_interval, the longest time between two writes. Metrics (all
// prefixed tswatchdog_): state{state=...} (1 for the current state, 0 for the
// others), state_since_timestamp_seconds, uplink_usable{family},
// tailscale_healthy, uplink_changes_total, actions_total{step},
// recoveries_total, gave_up_total, disruptive_skipped_total,
// ladder_exhausted_passes, disruptive_steps_last_hour,
// max_disruptive_per_hour, last_time_to_recover_seconds,
// updated_timestamp_seconds, metrics_interval_seconds,
// connection_evidence_known, connections{kind,verdict},
// diagnosis_fault{fault}. The alert rules in
// contrib/prometheus/ use them.
std::string RenderMetrics(const nlohmann::json& state,
                          std::chrono::milliseconds interval);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_METRICS_H_
