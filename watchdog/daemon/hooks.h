// The hooks of `hooks_dir`: which programs may run, and in what order runs
// happen. The daemon runs as root, so a hook runs only if no other user could
// have put it there or changed it, and hook runs never pile up: one event's
// programs at a time, one program after another (run-parts order), later
// events queued, coalesced and bounded.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_HOOKS_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_HOOKS_H_

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace watchdog {

struct HookListing {
  // Full paths, sorted by name (run-parts order).
  std::vector<std::string> programs;
  // One "PATH: why" per entry that looks like a hook but is refused.
  std::vector<std::string> refused;
  // Set when the directory itself is refused or unreadable: nothing runs.
  std::string error;
};

// Lists the hooks of `dir`. The directory must be owned by root or by us
// and writable by no one else (CheckTrustedDirectory); so must each hook,
// which must also be a regular file (not a symlink) with an execute bit.
// Names starting with '.' and regular files without an execute bit are
// skipped silently (a README, an editor's backup); anything else that is not
// run is refused, with the reason.
HookListing ListHookPrograms(const std::string& dir);

// One run of the hooks: the event ("uplink-changed", "unhealthy", "action",
// "recovered", "gave-up") and the environment the programs get.
struct HookRun {
  std::string event;
  std::map<std::string, std::string> env;
};

// The order hook runs happen in; pure (the daemon starts the programs).
// One run at a time. A run queued while another waits for the same event
// replaces it and goes to the back (the hooks see each event once, with
// its newest state, in the order the events last happened). At most
// `max_waiting` (>= 1) runs wait; beyond that the oldest waiting run is
// dropped.
class HookQueue {
 public:
  explicit HookQueue(size_t max_waiting)
      : max_waiting_(std::max<size_t>(max_waiting, 1)) {}

  struct Queued {
    bool coalesced = false;  // replaced a waiting run of the same event
    std::optional<std::string> dropped;  // the event of a run dropped
  };
  Queued Push(HookRun run);

  // The next run, when none is running; it is running until Finish().
  std::optional<HookRun> Start();
  void Finish() { running_ = false; }

  bool running() const { return running_; }
  size_t waiting() const { return waiting_.size(); }
  // Drops every waiting run (shutdown).
  void Clear() { waiting_.clear(); }

 private:
  size_t max_waiting_;
  std::deque<HookRun> waiting_;
  bool running_ = false;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_HOOKS_H_
