// The daemon's view at one moment, typed: what the state file, the metrics
// file and sd_notify STATUS= are rendered from, and what the executor tests
// check after each event.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_SNAPSHOT_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_SNAPSHOT_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/uplink.h"
#include "watchdog/core/health.h"
#include "watchdog/core/ladder.h"
#include "watchdog/core/machine.h"
#include "watchdog/core/mwan3_follow.h"
#include "watchdog/core/time.h"

namespace watchdog {

// What tailscaled last told us, as the state file shows it.
struct TailscaleView {
  std::optional<std::string> backend_state;  // the bus's, else status's
  std::optional<bool> online;                // Self.Online (status)
  std::optional<std::string> version;
  std::vector<std::string> warnings;  // warning codes, or legacy texts
  std::optional<HealthVerdict> verdict;
  std::string error;  // why the last call failed; empty: it did not
};

// A bugreport marker taken before a disruptive step or when the ladder gave
// up (issue 12 item 5): what to hand to Tailscale support.
struct SupportMarker {
  std::string marker;  // "BUG-<logid>-<time>-<hex>"
  std::string note;    // what we asked it to log with it
  MonoTime at{};
};

struct Snapshot {
  State state = State::kStarting;
  MonoTime since{};
  bool dry_run = false;
  netlink::UplinkView uplink;
  TailscaleView tailscale;
  std::optional<LastAction> last_action;
  std::optional<LadderStep> ladder_step;  // in kRecovering
  Counters counters;
  std::optional<std::chrono::milliseconds> last_time_to_recover;
  // What the daemon sees from outside tailscaled, and what it makes of it.
  Evidence evidence;
  // When it last looked at tailscaled's connections (nullopt: not yet): the
  // ages in the evidence's words are as of then.
  std::optional<MonoTime> evidence_checked;
  Diagnosis diagnosis;
  std::optional<SupportMarker> support_marker;
  // Ladder passes in a row that ended without healing (0 once healthy).
  int exhausted_passes = 0;
  // Disruptive steps in the hour before the snapshot, and the budget.
  int disruptive_last_hour = 0;
  int max_disruptive_per_hour = 0;
  // mwan3's view and what we did about it; nullopt: no mwan3 here.
  std::optional<Mwan3Status> mwan3;
};

// Monotonic times of the snapshot become wall times through this pair of
// readings of the two clocks taken at the same moment.
struct ClockPair {
  std::chrono::system_clock::time_point wall;
  MonoTime mono;
  static ClockPair Now() {
    return {std::chrono::system_clock::now(), MonoClock::now()};
  }
  std::chrono::system_clock::time_point ToWall(MonoTime time) const {
    return wall -
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               mono - time);
  }
  // The wall clock minus the monotonic one: it moves when the wall clock is
  // set (NTP's first sync on a router without a battery-backed clock).
  std::chrono::milliseconds Offset() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        wall.time_since_epoch() - mono.time_since_epoch());
  }
};

// Milliseconds since the Unix epoch (the state file's *_unix_ms).
inline int64_t UnixMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             time.time_since_epoch())
      .count();
}

// The state file's JSON (README, "State file"): `clocks` is "now", `pid`
// the daemon's.
nlohmann::json StateJson(const Snapshot& snapshot, const ClockPair& clocks,
                         int pid);

// "healthy; tailscale healthy; uplink wan0" (sd_notify STATUS=).
std::string StatusLine(const Snapshot& snapshot);

// --- What counts as a change of the files (README, "State file") ----------
// The words of a connection check carry ages ("last data 71 s ago") that
// move at every check while nothing else does; a state file on flash must
// not be rewritten every probe_interval for them. The daemon writes its
// files only when StableContent changes: everything the files show, minus
// what moves with the clock alone. The ages stay in the words, compared
// without their numbers, rather than becoming absolute times: they are the
// kernel's (tcp_info), which move whenever data arrives, so as times they
// would change at every keep-alive of a live connection; the file says when
// they were seen instead (connections.checked).

// `text` with every duration as FormatMillis writes it ("71 s", "1.5 s",
// "250 ms") replaced by "#": "last data # ago". Counts ("2 keep-alive
// probes"), addresses and ports stay.
std::string MaskDurations(std::string_view text);

// The state file's JSON for `snapshot` without what the clock alone moves:
// no `updated` nor check time, durations in the evidence's words masked,
// and every other time rendered from the monotonic clock (the same moment
// renders the same, however the wall clock drifts; the daemon watches the
// wall clock itself, ClockPair::Offset). The metrics file shows nothing that
// is not in it.
std::string StableContent(const Snapshot& snapshot);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_SNAPSHOT_H_
