// mwan3's view and what the daemon did about it, rendered: the state file's
// "mwan3" object, `monitor --json`'s mwan3 lines, the metrics and the lines
// of `tswatchdog status` (README, "mwan3").
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_JSON_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "watchdog/core/mwan3_follow.h"
#include "watchdog/daemon/snapshot.h"

namespace watchdog {

// {"present", "tailscale_mode" ("none", "A", "B", "other"),
//  "tailscale_rule" (1310, 5210, or null), "mask" ("0x3f00"),
//  "wans": [{"name", "id", "family", "device", "state", "tracker"}]}
nlohmann::json Mwan3ViewToJson(const Mwan3View& view);

// The view, plus "steering" {"enabled", "routes", "why" {"v4", "v6"}},
// "flow_cleanup" {"enabled", "last"}, "dry_run", "counters" and
// "problems".
nlohmann::json Mwan3StatusToJson(const Mwan3Status& status,
                                 const ClockPair& clocks);

// The tswatchdog_mwan3_* metrics from the state file's "mwan3" object;
// nothing when it is null (no mwan3 on this host).
void RenderMwan3Metrics(const nlohmann::json& state, std::string* out);

// `tswatchdog status`'s lines for the state file's "mwan3" object; none
// when it is null.
std::vector<std::string> Mwan3StatusLines(const nlohmann::json& state);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_JSON_H_
