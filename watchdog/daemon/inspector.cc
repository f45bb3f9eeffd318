#include "watchdog/daemon/inspector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace watchdog {
namespace {

using std::chrono::milliseconds;

// After a step: tailscaled answers the kick at once, then re-STUNs and
// writes its new endpoints on the control connection; three RTO
// retransmissions of that write take >= 1.4 s (the kernel's timer, never
// scaled). So: 2 s after, and again 5 s after (DERP's 3 s ping, a slow
// STUN).
constexpr milliseconds kAfterStep[2] = {milliseconds(2000), milliseconds(5000)};
constexpr milliseconds kAfterStepFloor[2] = {milliseconds(1500),
                                             milliseconds(3000)};

// tailscaled < 1.70 has no health on its bus: a status every fourth
// periodic check (a minute at the default probe_interval).
constexpr int kLegacyPollEvery = 4;

milliseconds Scaled(milliseconds value, double scale) {
  return milliseconds(static_cast<int64_t>(
      std::llround(static_cast<double>(value.count()) * scale)));
}

// "control live, DERP dead, DERP live": what changes the info log.
std::string Summary(const Evidence& evidence) {
  if (!evidence.known) return "unknown";
  std::vector<std::string> parts;
  for (const JudgedConnection& c : evidence.connections) {
    if (c.kind == ConnectionKind::kOther) continue;
    parts.push_back(std::string(ConnectionKindName(c.kind)) + " " +
                    VerdictName(c.verdict));
  }
  std::sort(parts.begin(), parts.end());
  std::string text;
  for (const std::string& part : parts) {
    text += (text.empty() ? "" : ", ") + part;
  }
  return text.empty() ? "no control or DERP connection" : text;
}

bool AnyNotLive(const Evidence& evidence) {
  return std::any_of(
      evidence.connections.begin(), evidence.connections.end(),
      [](const JudgedConnection& c) {
        return c.kind != ConnectionKind::kOther &&
               (c.verdict == Verdict::kSuspect || c.verdict == Verdict::kDead);
      });
}

}  // namespace

VerdictThresholds ThresholdsAt(double time_scale) {
  if (time_scale >= 1.0 || time_scale <= 0) return VerdictThresholds{};
  return VerdictThresholds{}.ScaledDown(
      std::max(1, static_cast<int>(std::lround(1.0 / time_scale))));
}

Inspector::Inspector(Timers& timers, ConnectionSource& source,
                     UplinkSource& uplink, TailscaleApi& tailscale,
                     InspectorSettings settings, Hooks hooks)
    : timers_(timers),
      source_(source),
      tailscale_(tailscale),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)),
      check_(source, uplink, ThresholdsAt(settings_.time_scale)) {}

Inspector::~Inspector() {
  if (periodic_timer_) timers_.CancelTimer(periodic_timer_);
  for (Timers::TimerId id : after_step_timers_) {
    if (id) timers_.CancelTimer(id);
  }
}

void Inspector::Start() {
  CheckNow("start");
  ArmPeriodic();
}

void Inspector::Reconfigure(InspectorSettings settings) {
  const bool interval_changed =
      settings.probe_interval != settings_.probe_interval;
  settings_ = std::move(settings);
  check_.SetThresholds(ThresholdsAt(settings_.time_scale));
  if (interval_changed) ArmPeriodic();
}

void Inspector::ArmPeriodic() {
  if (periodic_timer_) timers_.CancelTimer(periodic_timer_);
  periodic_timer_ = 0;
  if (settings_.probe_interval <= milliseconds(0)) return;
  periodic_timer_ =
      timers_.AddTimer(timers_.Now() + settings_.probe_interval, [this] {
        periodic_timer_ = 0;
        Periodic();
      });
}

void Inspector::Periodic() {
  ArmPeriodic();
  CheckNow("periodic");
  if (legacy_ && ++periodic_count_ % kLegacyPollEvery == 0) {
    hooks_.want_status("tailscaled < 1.70 has no health on its bus");
  }
}

void Inspector::OnTailscaledConnected() {
  derp_wanted_ = true;
  derp_not_before_.reset();
  pid_ = 0;  // maybe a new tailscaled
  FetchDerpMap();
}

void Inspector::CheckAfterStep() {
  for (int i = 0; i < 2; ++i) {
    if (after_step_timers_[i]) timers_.CancelTimer(after_step_timers_[i]);
    const milliseconds delay = std::max(
        Scaled(kAfterStep[i], settings_.time_scale), kAfterStepFloor[i]);
    after_step_timers_[i] = timers_.AddTimer(timers_.Now() + delay, [this, i] {
      after_step_timers_[i] = 0;
      CheckNow("after a step");
    });
  }
}

void Inspector::FetchDerpMap() {
  if (!derp_wanted_ || derp_in_flight_) return;
  if (derp_not_before_ && timers_.Now() < *derp_not_before_) return;
  derp_in_flight_ = true;
  tailscale_.GetDerpMap([this](ApiResult<DerpMap> result) {
    derp_in_flight_ = false;
    if (!result.ok()) {
      const std::string error = result.error().ToString();
      if (error != derp_error_) {
        spdlog::warn(
            "DERP map: {}; DERP connections look like others "
            "until it is in, ignoring",
            error);
      }
      derp_error_ = error;
      derp_not_before_.reset();
      return;  // again at the next check
    }
    derp_error_.clear();
    // Empty: no netmap yet; ask again, but not at every check.
    derp_wanted_ = result->servers.empty();
    derp_not_before_ =
        timers_.Now() + kLegacyPollEvery * settings_.probe_interval;
    spdlog::debug("DERP map: {} servers", result->servers.size());
    check_.SetDerpServers(std::move(result->servers));
  });
}

void Inspector::LookAtProcess() {
  if (pid_ == 0) {
    const Expected<pid_t, SystemError> peer =
        source_.LocalApiPeer(ResolveTailscaledSocket(settings_.socket));
    pid_ = peer ? *peer : 0;
    const std::string error = peer ? "" : peer.error().ToString();
    if (!peer && error != pid_error_) {
      spdlog::debug("tailscaled's pid: {}", error);
    }
    pid_error_ = error;
    check_.SetPid(pid_);
    if (pid_ == 0) return;
  }
  const char state = source_.ProcessState(pid_);
  if (state == process_state_) return;
  const bool stopped = state == 'T' || state == 't';
  if (stopped) {
    spdlog::warn(
        "tailscaled (pid {}) is stopped (state {}): it cannot "
        "answer",
        pid_, state);
    hooks_.want_status("tailscaled is stopped");
  } else if (process_state_ == 'T' || process_state_ == 't') {
    spdlog::info("tailscaled (pid {}) runs again", pid_);
  }
  process_state_ = state;
  if (state == 0) {
    pid_ = 0;  // gone: found again at the next look
    check_.SetPid(0);
  }
}

void Inspector::CheckNow(const std::string& why) {
  LookAtProcess();
  FetchDerpMap();
  Report(check_.Run(), why);
}

void Inspector::Report(const CheckReport& report, const std::string& why) {
  if (report.problem != problem_) {
    if (!report.problem.empty()) {
      spdlog::warn("connections: {}; the evidence is unknown, ignoring",
                   report.problem);
    } else if (!problem_.empty()) {
      spdlog::info("connections: the socket dump works again");
    }
    problem_ = report.problem;
  }
  evidence_.known = report.evidence.known;
  evidence_.connections = report.evidence.connections;
  for (const JudgedConnection& c : evidence_.connections) {
    spdlog::debug("connection ({}{}): {} {}", why,
                  report.fallback ? ", from /proc" : "", VerdictName(c.verdict),
                  c.evidence);
  }
  const std::string summary = Summary(evidence_);
  if (summary != summary_) {
    spdlog::info("connections: {}", summary);
    for (const JudgedConnection& c : evidence_.connections) {
      if (c.kind != ConnectionKind::kOther && c.verdict != Verdict::kLive) {
        spdlog::info("connection {}: {}", VerdictName(c.verdict), c.evidence);
      }
    }
    summary_ = summary;
  }
  hooks_.evidence(evidence_);
  if (AnyNotLive(evidence_)) hooks_.want_status("a connection looks wrong");
}

}  // namespace watchdog
