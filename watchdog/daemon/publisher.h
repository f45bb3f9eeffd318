// Where the daemon's view goes after each event that changed it: the state
// file and the metrics file (replaced atomically; a failed write sets the
// old copy aside and is retried), and systemd's notify socket (READY=1 once
// tailscaled has been heard from, STATUS=, WATCHDOG=1 pings, STOPPING=1).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_PUBLISHER_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_PUBLISHER_H_

#include <chrono>
#include <optional>
#include <string>

#include "watchdog/daemon/notifier.h"
#include "watchdog/daemon/snapshot.h"
#include "watchdog/io/timers.h"

namespace watchdog {

// The files to write; an empty path: none.
struct PublishTargets {
  std::string state_file;
  std::string metrics_file;
  // The longest time between two writes of the metrics file (it says so).
  std::chrono::milliseconds metrics_interval{std::chrono::minutes(1)};
  bool operator==(const PublishTargets&) const = default;
};

// What the files show once written: what tells a real change from the clock
// moving (README, "State file": when it is written).
struct PublishedView {
  std::string content;  // StableContent of the snapshot
  PublishTargets targets;
  // ClockPair::Offset when rendered: the files' wall times depend on it.
  std::chrono::milliseconds clock_offset{0};
};

enum class PublishReason {
  kUnchanged,  // the files show this already: nothing is written
  kFirst,      // nothing written yet, or the last write failed
  kForced,     // a config reload
  kContent,    // something they show changed
  kTargets,    // other files, or another metrics_interval
  kClockSet,   // the wall clock was set: their wall times moved
};
const char* PublishReasonName(PublishReason reason);  // "content changed"

// The wall clock may drift against the monotonic one (NTP slews it) without
// a write; a step beyond this is the clock being set, and rewrites the files.
inline constexpr std::chrono::milliseconds kClockSetThreshold{1000};

// Whether (and why) the files must be written to show `next`, given what
// they show (`last`; nullopt: nothing, or the last write failed).
PublishReason WhyPublish(const std::optional<PublishedView>& last,
                         const PublishedView& next, bool forced);

class Publisher {
 public:
  virtual ~Publisher() = default;
  // False when a file could not be written: the daemon publishes again
  // later (disk full, read-only directory).
  virtual bool Publish(const Snapshot& snapshot,
                       const PublishTargets& targets) = 0;
};

class StatePublisher final : public Publisher {
 public:
  explicit StatePublisher(SystemdNotifier notifier)
      : notifier_(std::move(notifier)) {}

  bool Publish(const Snapshot& snapshot,
               const PublishTargets& targets) override;

  // WATCHDOG=1 every half WatchdogSec=, from a timer of the loop: a wedged
  // loop stops the pings and systemd restarts us. No-op without it.
  void StartWatchdogPings(Timers& timers);
  // Best effort: systemd sees the exit anyway.
  void Stopping() { static_cast<void>(notifier_.Notify("STOPPING=1")); }

 private:
  struct OutputFile {
    const char* what;
    std::string last_error;  // empty: the last write worked
    bool written = false;
  };
  bool Write(OutputFile& file, const std::string& path,
             const std::string& content);
  void NotifySystemd(const Snapshot& snapshot);
  void ReportNotifyError(const Expected<void, SystemError>& sent);
  void Ping(Timers& timers);

  SystemdNotifier notifier_;
  bool ready_sent_ = false;
  std::string last_notify_error_;
  OutputFile state_output_{"state file", {}, false};
  OutputFile metrics_output_{"metrics file", {}, false};
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_PUBLISHER_H_
