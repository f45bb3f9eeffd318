// Health classification of tailscaled: a pure function from what the LocalAPI
// told us (status, latest bus Health, prefs), our own uplink view and the time
// to a verdict. No I/O, no clock reads; table-tested, also on the wire
// samples of tests/data/localapi.
#ifndef TSWATCHDOG_WATCHDOG_CORE_HEALTH_H_
#define TSWATCHDOG_WATCHDOG_CORE_HEALTH_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "watchdog/core/tailscale_types.h"
#include "watchdog/core/time.h"

namespace watchdog {

enum class HealthKind {
  kHealthy,
  kDegraded,       // the ladder may act (if the uplink is usable)
  kUserIntentOff,  // Stopped, NeedsLogin, NeedsMachineAuth, WantRunning=false
  kStarting,       // NoState/Starting/warming-up, still within start_timeout
  kUnreachable,    // the LocalAPI did not answer
};

std::string_view HealthKindName(HealthKind kind);

// Why a verdict is not "healthy". `code` is stable and machine-readable: a
// warnable code ("no-derp-home"), or one of ours: "offline" (Self.Online
// false), "stuck-starting", "no-relay", "network-down" (legacy text),
// "stopped", "needs-login", "needs-machine-auth", "want-running-false",
// "in-use-other-user", "unknown-state", "unreachable", "service-stopped",
// "starting", "warming-up".
struct HealthReason {
  std::string code;
  std::string detail;  // human text (the warning text, the error, ...)
  bool operator==(const HealthReason&) const = default;
};

struct HealthVerdict {
  HealthKind kind = HealthKind::kUnreachable;
  std::vector<HealthReason> reasons;

  bool healthy() const { return kind == HealthKind::kHealthy; }
  bool HasReason(std::string_view code) const;
  // One line, e.g. "degraded: offline (Self.Online is false); derp-timed-out
  // (Tailscale hasn't heard from ...)".
  std::string Describe() const;
};

struct HealthInputs {
  // nullopt: the status call failed; `unreachable_error` says why.
  std::optional<Status> status;
  std::string unreachable_error;
  // Latest Notify.Health seen on the bus (>= 1.70); nullopt: none seen, the
  // legacy Status.Health strings are used instead.
  std::optional<HealthState> bus_health;
  // Latest Notify.State seen on the bus after `status` was fetched; it wins
  // over Status.BackendState because it is newer.
  std::optional<BackendState> bus_state;
  std::optional<Prefs> prefs;
  // Whether our own uplink (netlink view) is usable. `network-status` counts
  // only when it is: a down network is expected otherwise.
  bool uplink_usable = true;
  MonoTime now{};
  // When the caller first saw NoState/Starting/warming-up in the current
  // episode; nullopt is treated as `now` (just started).
  std::optional<MonoTime> starting_since;
  std::chrono::milliseconds start_timeout{std::chrono::seconds(60)};
  // tailscaled's unit when systemd says it was stopped on purpose (`systemctl
  // stop`, or never started); empty otherwise. With no status, that is the
  // admin's intent, not a fault: kUserIntentOff, "service-stopped".
  std::string stopped_service;
};

HealthVerdict ClassifyHealth(const HealthInputs& inputs);

// The clock start_timeout runs on: since when tailscaled has been starting
// (NoState, Starting, or Running but warming up) without a break. `run` and
// `check` classify through it. It starts at the first verdict that says
// starting, keeps running while the verdict is starting or stuck-starting,
// and stops at any other.
class StartingClock {
 public:
  // ClassifyHealth(inputs) with inputs.starting_since from this clock.
  HealthVerdict Classify(HealthInputs inputs);
  std::optional<MonoTime> since() const { return since_; }

 private:
  std::optional<MonoTime> since_;
};

// Whether a structured warning code can ever make tailscaled "degraded" (the
// actionable list of kActionableCodes in health.cc). Benign codes never
// count.
bool IsActionableWarningCode(std::string_view code);

// Maps one legacy Status.Health string (>= 1.70 texts and the terse < 1.70
// ones) to the equivalent warning code, or "" if it is benign/unknown.
std::string LegacyHealthCode(std::string_view text);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_HEALTH_H_
