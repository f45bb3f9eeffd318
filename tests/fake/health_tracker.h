// tailscaled's health tracker (tailscale health/health.go, warnings.go,
// state.go) as pure code: the inputs tailscaled feeds it, the warnables it
// derives from them (updateBuiltinWarnablesLocked), when each becomes
// visible (TimeToVisible), which ones a dependency hides, and what a
// LocalAPI client sees: Notify.Health (>= 1.70) and Status.Health strings,
// or the terse pre-1.70 strings (overallErrorLocked at v1.66.0). Time is an
// argument everywhere, so tests drive it with a fake clock.
#ifndef TSWATCHDOG_TESTS_FAKE_HEALTH_TRACKER_H_
#define TSWATCHDOG_TESTS_FAKE_HEALTH_TRACKER_H_

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fake {

class HealthTracker {
 public:
  using Time = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;
  using Args = std::map<std::string, std::string>;

  // What tailscaled tells its tracker (the fields of health.Tracker).
  struct Inputs {
    std::string ipn_state = "Running";
    bool want_running = true;
    std::optional<Time> want_running_last_true;
    std::optional<bool> any_interface_up;
    bool in_map_poll = false;
    std::optional<Time> last_map_poll_ended;
    std::optional<Time> last_streamed_map_response;
    int derp_home_region = 4;  // 0: none
    std::string derp_home_name = "Frankfurt";
    bool derp_connected = false;
    std::optional<Time> derp_last_frame;
    std::string router_error;          // SetRouterHealth; "" = ok
    std::string magicsock_func_error;  // a receive func not running
  };

  // `scale` multiplies every TimeToVisible and the idle limits (the time
  // scale: 0.05 is 20 times faster).
  explicit HealthTracker(double scale = 1.0) : scale_(scale) {}

  Inputs& inputs() { return inputs_; }
  const Inputs& inputs() const { return inputs_; }

  // SetIPNState: the backend state and WantRunning; starts the warming-up
  // warnable at the first WantRunning=true, then runs SelfCheck.
  void SetIPNState(const std::string& state, bool want_running, Time now);

  // updateBuiltinWarnablesLocked: re-derives the built-in warnables from
  // the inputs at `now`. tailscaled runs it on events and on a 1-minute
  // timer.
  void SelfCheck(Time now);

  // Moves the BrokenSince of a set warnable `by` earlier (the LocalAPI-only
  // mode's snapshot of "some minutes after the fault").
  void Backdate(const std::string& code, Duration by);
  // The UnhealthyState tailscaled would show for `code`, with sample
  // arguments (region Frankfurt, 9m12s), for the `warn` command.
  static nlohmann::ordered_json Canned(const std::string& code);

  // Extra warnings set by hand (the fake's `warn` command, --health-file):
  // shown as given, visible at once, never touched by SelfCheck.
  void SetExtra(const std::string& code, const nlohmann::ordered_json& state);
  void ClearExtra(const std::string& code);
  void ClearAllExtra() { extra_.clear(); }

  // health.State as Notify.Health carries it: visible warnables whose
  // dependencies are healthy, with ETags; {"Warnings":null} when none.
  nlohmann::ordered_json CurrentState(Time now) const;
  // Status.Health (>= 1.70): the texts of CurrentState.
  std::vector<std::string> Strings(Time now) const;
  // Status.Health before 1.70: the first error overallErrorLocked finds.
  std::vector<std::string> LegacyStrings(Time now) const;
  // Codes set now (visible or not), for `ctl get`.
  std::vector<std::string> SetCodes() const;
  // When the next set-but-invisible warnable turns visible.
  std::optional<Time> NextVisibility(Time now) const;

 private:
  struct Warning {
    Time since;
    int64_t since_unix_ms = 0;
    Args args;
  };

  void SetUnhealthy(const std::string& code, Args args, Time now);
  void SetHealthy(const std::string& code) { set_.erase(code); }
  bool Visible(const std::string& code, const Warning& w, Time now) const;
  bool EffectivelyHealthy(const std::string& code) const;
  void CheckDerp(Time now);
  void CheckControl(Time now);
  Duration Scaled(Duration real) const;

  double scale_;
  Inputs inputs_;
  std::map<std::string, Warning> set_;
  std::map<std::string, nlohmann::ordered_json> extra_;
};

// Tailscale-Cap (tailcfg.CurrentCapabilityVersion) of a version string
// ("1.102.3-t53a0d659a", "1.98.3-1 (OpenWrt)"), from the release tags.
int CapabilityVersion(const std::string& version);
// Whether `version` is at least major.minor.
bool VersionAtLeast(const std::string& version, int major, int minor);

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_HEALTH_TRACKER_H_
