#include "watchdog/core/health.h"

#include <algorithm>
#include <array>

namespace watchdog {
namespace {

constexpr std::array<std::string_view, 7> kActionableCodes = {
    "network-status", "no-derp-home",    "no-derp-connection",
    "derp-timed-out", "not-in-map-poll", "mapresponse-timeout",
    "router",
};

struct LegacyPattern {
  std::string_view text;  // matched as a substring
  std::string_view code;
};

// Status.Health texts (localapi.md 3.3). >= 1.70 texts first, then the terse
// pre-1.70 errors from overallErrorLocked; both map to the structured codes.
constexpr std::array<LegacyPattern, 19> kLegacyPatterns = {{
    {"Tailscale cannot connect because the network is down", "network-status"},
    {"Tailscale could not connect to any relay server", "no-derp-home"},
    {"Tailscale could not connect to the '", "no-derp-connection"},
    {"Tailscale could not connect to the relay server with ID",
     "no-derp-connection"},
    {"Tailscale hasn't heard from the ", "derp-timed-out"},
    {"Unable to connect to the Tailscale coordination server",
     "not-in-map-poll"},
    {"Tailscale hasn't received a network map from the coordination server",
     "mapresponse-timeout"},
    {"Tailscale is starting. Please wait.", "warming-up"},
    {"Tailscale is stopped.", "wantrunning-false"},
    {"add route failure", "router"},  // raw router error, any version
    // < 1.70 (checked at v1.66.0).
    {"not in map poll", "not-in-map-poll"},
    {"no DERP home", "no-derp-home"},
    {"not connected to home DERP region", "no-derp-connection"},
    {"haven't heard from home DERP region", "derp-timed-out"},
    {"no map response in", "mapresponse-timeout"},
    {"state=Stopped, wantRunning=false", "wantrunning-false"},
    {"network down", "network-status"},
    {"no udp4 bind", "no-udp4-bind"},
    {"not logged in, last login error=", "login-state"},
}};

std::string Seconds(std::chrono::steady_clock::duration d) {
  return std::to_string(
             std::chrono::duration_cast<std::chrono::seconds>(d).count()) +
         "s";
}

HealthVerdict UserIntentOff(std::string code, std::string detail) {
  return {HealthKind::kUserIntentOff, {{std::move(code), std::move(detail)}}};
}

// Actionable warnings, sorted by code, one reason per code; sets
// `warming_up` if tailscaled says it is starting (GUIs ignore every warning
// then, and so do we).
std::vector<HealthReason> ActionableWarnings(const HealthInputs& in,
                                             bool* warming_up,
                                             bool* want_running_false) {
  std::vector<HealthReason> reasons;
  auto consider = [&](const std::string& code, const std::string& text) {
    if (code == "warming-up") *warming_up = true;
    if (code == "wantrunning-false") *want_running_false = true;
    if (!IsActionableWarningCode(code)) return;
    if (code == "network-status" && !in.uplink_usable) return;
    for (const auto& r : reasons) {
      if (r.code == code) return;
    }
    reasons.push_back({code, text});
  };
  if (in.bus_health) {
    for (const auto& [code, warning] : in.bus_health->warnings) {
      consider(code, warning.text.empty() ? warning.title : warning.text);
    }
  } else {
    for (const auto& text : in.status->health) {
      consider(LegacyHealthCode(text), text);
    }
  }
  std::sort(reasons.begin(), reasons.end(),
            [](const auto& a, const auto& b) { return a.code < b.code; });
  if (*warming_up) reasons.clear();
  return reasons;
}

std::optional<HealthVerdict> OffOnPurpose(BackendState state,
                                          const std::optional<Prefs>& prefs) {
  switch (state) {
    case BackendState::kStopped:
      return UserIntentOff("stopped", "tailscale is down (Stopped)");
    case BackendState::kNeedsLogin:
      return UserIntentOff("needs-login", "tailscaled needs a login");
    case BackendState::kNeedsMachineAuth:
      return UserIntentOff("needs-machine-auth",
                           "the node awaits admin approval");
    case BackendState::kInUseOtherUser:
      return UserIntentOff("in-use-other-user",
                           "tailscaled is in use by another user");
    default:
      break;
  }
  if (prefs && !prefs->want_running) {
    return UserIntentOff("want-running-false", "WantRunning is false");
  }
  return std::nullopt;
}

// NoState, Starting or warming up: starting until start_timeout, then
// degraded (stuck-starting, and no-relay when it has no home relay yet).
HealthVerdict StartingVerdict(const HealthInputs& in, BackendState state,
                              bool warming_up,
                              std::vector<HealthReason> warnings) {
  const auto since = in.starting_since.value_or(in.now);
  const auto elapsed = in.now - since;
  const std::string what =
      warming_up && state == BackendState::kRunning
          ? std::string("warming up")
          : "BackendState " + std::string(BackendStateName(state));
  if (elapsed < in.start_timeout) {
    return {HealthKind::kStarting,
            {{warming_up ? "warming-up" : "starting",
              what + " for " + Seconds(elapsed)}}};
  }
  std::vector<HealthReason> reasons = {
      {"stuck-starting", what + " for " + Seconds(elapsed) +
                             " (start_timeout " + Seconds(in.start_timeout) +
                             ")"}};
  if (in.status->self_relay.empty()) {
    reasons.push_back({"no-relay", "no home relay server (Self.Relay empty)"});
  }
  reasons.insert(reasons.end(), warnings.begin(), warnings.end());
  return {HealthKind::kDegraded, std::move(reasons)};
}

}  // namespace

std::string_view HealthKindName(HealthKind kind) {
  switch (kind) {
    case HealthKind::kHealthy:
      return "healthy";
    case HealthKind::kDegraded:
      return "degraded";
    case HealthKind::kUserIntentOff:
      return "user-intent-off";
    case HealthKind::kStarting:
      return "starting";
    case HealthKind::kUnreachable:
      return "unreachable";
  }
  return "unknown";
}

bool HealthVerdict::HasReason(std::string_view code) const {
  return std::any_of(reasons.begin(), reasons.end(),
                     [&](const auto& r) { return r.code == code; });
}

std::string HealthVerdict::Describe() const {
  std::string out(HealthKindName(kind));
  for (size_t i = 0; i < reasons.size(); ++i) {
    out += i == 0 ? ": " : "; ";
    out += reasons[i].code;
    if (!reasons[i].detail.empty()) out += " (" + reasons[i].detail + ")";
  }
  return out;
}

bool IsActionableWarningCode(std::string_view code) {
  return std::find(kActionableCodes.begin(), kActionableCodes.end(), code) !=
         kActionableCodes.end();
}

std::string LegacyHealthCode(std::string_view text) {
  for (const auto& pattern : kLegacyPatterns) {
    if (text.find(pattern.text) != std::string_view::npos) {
      return std::string(pattern.code);
    }
  }
  return {};
}

HealthVerdict ClassifyHealth(const HealthInputs& in) {
  if (!in.status && !in.stopped_service.empty()) {
    return {HealthKind::kUserIntentOff,
            {{"service-stopped",
              in.stopped_service +
                  " is stopped (systemctl stop): left as the admin wants"}}};
  }
  if (!in.status) {
    return {HealthKind::kUnreachable,
            {{"unreachable", in.unreachable_error.empty()
                                 ? "tailscaled did not answer"
                                 : in.unreachable_error}}};
  }
  const Status& status = *in.status;
  const std::optional<BackendState> state =
      in.bus_state ? in.bus_state : status.backend_state;
  if (!state) {
    return {HealthKind::kDegraded,
            {{"unknown-state",
              "BackendState '" + status.backend_state_name + "'"}}};
  }
  // User intent always wins: never report these as broken.
  if (auto off = OffOnPurpose(*state, in.prefs)) return *off;

  bool warming_up = false;
  bool want_running_false = false;
  std::vector<HealthReason> warnings =
      ActionableWarnings(in, &warming_up, &want_running_false);
  if (want_running_false) {
    return UserIntentOff("want-running-false", "tailscaled reports it is off");
  }

  const bool starting = *state == BackendState::kNoState ||
                        *state == BackendState::kStarting || warming_up;
  if (starting) {
    return StartingVerdict(in, *state, warming_up, std::move(warnings));
  }

  std::vector<HealthReason> reasons;
  if (!status.self_online) {
    reasons.push_back(
        {"offline", "Self.Online is false: no control connection"});
  }
  reasons.insert(reasons.end(), warnings.begin(), warnings.end());
  if (reasons.empty()) return {HealthKind::kHealthy, {}};
  return {HealthKind::kDegraded, std::move(reasons)};
}

HealthVerdict StartingClock::Classify(HealthInputs inputs) {
  inputs.starting_since = since_;
  HealthVerdict verdict = ClassifyHealth(inputs);
  const bool starting = verdict.kind == HealthKind::kStarting ||
                        verdict.HasReason("stuck-starting");
  if (!starting) {
    since_.reset();
  } else if (!since_) {
    since_ = inputs.now;
  }
  return verdict;
}

}  // namespace watchdog
