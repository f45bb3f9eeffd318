// The daemon's marker for support (issue 12 item 5): before a disruptive
// step and when the ladder gives up, tailscaled's `POST bugreport` with a
// note naming the step; the hooks that follow wait for it and carry it.
#include <spdlog/spdlog.h>

#include "watchdog/daemon/daemon.h"

namespace watchdog {

// tailscaled logs the note with its marker; keep it one readable line.
constexpr size_t kMaxNoteChars = 300;

void Daemon::ReleaseHooks() {
  hold_hooks_ = false;
  std::vector<std::string> events = std::move(held_hooks_);
  held_hooks_.clear();
  for (const std::string& event : events) {
    actuator().RunHooks(event, HookEnv(event), Actions());
  }
}

std::string Daemon::SupportNote(const std::string& what) const {
  std::string note =
      "tswatchdog: " + what + "; " + machine_.diagnosis().Describe();
  if (note.size() > kMaxNoteChars) note.resize(kMaxNoteChars);
  return note;
}

void Daemon::MarkForSupport(const std::string& note,
                            std::function<void()> then) {
  if (config_.dry_run) {
    spdlog::info("dry run: would ask tailscaled for a bugreport marker ({})",
                 note);
    return then();
  }
  if (verdict_ && verdict_->kind == HealthKind::kUnreachable) {
    spdlog::info("no bugreport marker: the LocalAPI does not answer");
    return then();
  }
  ports_.tailscale.BugReport(
      note, [this, note, then = std::move(then)](ApiResult<std::string> r) {
        if (r.ok()) {
          marker_ = SupportMarker{*r.value, note, ports_.timers.Now()};
          spdlog::info("bugreport marker for Tailscale support: {} ({})",
                       *r.value, note);
          dirty_ = true;
        } else {
          spdlog::warn("bugreport marker: {}, ignoring", r.error.ToString());
        }
        then();
      });
}

}  // namespace watchdog
