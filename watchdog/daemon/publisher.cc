#include "watchdog/daemon/publisher.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "watchdog/daemon/metrics.h"
#include "watchdog/daemon/state_file.h"

namespace watchdog {

const char* PublishReasonName(PublishReason reason) {
  switch (reason) {
    case PublishReason::kUnchanged:
      return "unchanged";
    case PublishReason::kFirst:
      return "first write";
    case PublishReason::kForced:
      return "config reloaded";
    case PublishReason::kContent:
      return "content changed";
    case PublishReason::kTargets:
      return "targets changed";
    case PublishReason::kClockSet:
      return "wall clock set";
  }
  return "?";
}

PublishReason WhyPublish(const std::optional<PublishedView>& last,
                         const PublishedView& next, bool forced) {
  if (!last) return PublishReason::kFirst;
  if (forced) return PublishReason::kForced;
  if (last->content != next.content) return PublishReason::kContent;
  if (last->targets != next.targets) return PublishReason::kTargets;
  const std::chrono::milliseconds step = next.clock_offset - last->clock_offset;
  if (step >= kClockSetThreshold || -step >= kClockSetThreshold) {
    return PublishReason::kClockSet;
  }
  return PublishReason::kUnchanged;
}

bool StatePublisher::Publish(const Snapshot& snapshot,
                             const PublishTargets& targets) {
  NotifySystemd(snapshot);
  const ClockPair clocks = ClockPair::Now();
  const nlohmann::json state = StateJson(snapshot, clocks, getpid());
  bool ok = true;
  if (!targets.metrics_file.empty()) {
    ok &= Write(metrics_output_, targets.metrics_file,
                RenderMetrics(snapshot, clocks, targets.metrics_interval));
  }
  if (!targets.state_file.empty()) {
    // Strings are made valid UTF-8 where they enter; `replace` is the last
    // line of defence: a dump that threw would freeze the file for good.
    ok &= Write(
        state_output_, targets.state_file,
        state.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
            "\n");
  }
  return ok;
}

bool StatePublisher::Write(OutputFile& file, const std::string& path,
                           const std::string& content) {
  const std::string stale = StaleCopyPath(path);
  const Expected<void, SystemError> written =
      WriteFileAtomically(path, content);
  if (written) {
    if (!file.written || !file.last_error.empty()) unlink(stale.c_str());
    if (!file.last_error.empty()) {
      spdlog::info("{} {} written again", file.what, path);
      file.last_error.clear();
    }
    file.written = true;
    return true;
  }
  // The old copy would show stale data as current: set it aside (a rename
  // needs no space on a full disk, and frees none, so writes do not flip
  // between failing and working). Say each new problem once, not on every
  // event.
  // Only a regular file of ours is set aside, never whatever else the path
  // names (SetAsideStale).
  std::string set_aside;
  if (const Expected<bool, SystemError> moved = SetAsideStale(path); !moved) {
    set_aside = "; its old copy could not be set aside (" +
                moved.error().ToString() + ") and is stale";
  } else if (*moved) {
    set_aside = "; its old copy is now " + stale;
  }
  const std::string error = written.error().ToString();
  if (error != file.last_error) {
    spdlog::error("{} not written ({}){}; going on, retrying", file.what, error,
                  set_aside);
  }
  file.last_error = error;
  return false;
}

// READY=1 once netlink is up and tailscaled has been heard from (or found
// missing): "up" means watching, not "tailscaled healthy". STATUS= follows.
void StatePublisher::NotifySystemd(const Snapshot& snapshot) {
  if (!notifier_.enabled()) return;
  if (!ready_sent_ && !snapshot.tailscale.verdict) return;
  std::string status = "STATUS=" + StatusLine(snapshot);
  if (!ready_sent_) status = "READY=1\n" + status;
  const Expected<void, SystemError> sent = notifier_.Notify(status);
  if (sent) ready_sent_ = true;
  ReportNotifyError(sent);
}

// Says each new notify problem once (a stuck receiver would otherwise be
// reported on every ping).
void StatePublisher::ReportNotifyError(
    const Expected<void, SystemError>& sent) {
  const std::string error = sent ? "" : sent.error().ToString();
  if (!error.empty() && error != last_notify_error_) {
    spdlog::warn("systemd: {}", error);
  }
  last_notify_error_ = error;
}

void StatePublisher::StartWatchdogPings(Timers& timers) {
  if (auto interval = notifier_.watchdog_interval()) {
    spdlog::debug("systemd watchdog: pinging every {}ms", interval->count());
    Ping(timers);
  }
}

void StatePublisher::Ping(Timers& timers) {
  ReportNotifyError(notifier_.Notify("WATCHDOG=1"));
  timers.AddTimer(timers.Now() + *notifier_.watchdog_interval(),
                  [this, &timers] { Ping(timers); });
}

}  // namespace watchdog
