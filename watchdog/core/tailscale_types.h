// The parts of tailscaled's LocalAPI JSON that tswatchdog reads, as plain
// values (the parsers are in watchdog/localapi/tailscale_json.h). Missing or
// null fields take the defaults below. Wire shapes: tailscale
// ipn/ipnstate/ipnstate.go (Status), ipn/prefs.go (Prefs), ipn/backend.go
// (Notify, State), health/state.go (health.State).
#ifndef TSWATCHDOG_WATCHDOG_CORE_TAILSCALE_TYPES_H_
#define TSWATCHDOG_WATCHDOG_CORE_TAILSCALE_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace watchdog {

// Where tailscaled's LocalAPI socket usually is, tried in this order when no
// socket is configured. OpenWrt and older distributions use /var/run, which
// on most systemd hosts is a symlink to /run.
inline constexpr std::string_view kDefaultSocketPaths[] = {
    "/var/run/tailscale/tailscaled.sock",
    "/run/tailscale/tailscaled.sock",
};

// ipn.State. An integer on the bus (Notify.State), a string in
// Status.BackendState; the integer values are stable wire constants.
enum class BackendState {
  kNoState = 0,
  kInUseOtherUser = 1,
  kNeedsLogin = 2,
  kNeedsMachineAuth = 3,
  kStopped = 4,
  kStarting = 5,
  kRunning = 6,
};

std::string_view BackendStateName(BackendState state);
std::optional<BackendState> BackendStateFromName(std::string_view name);
std::optional<BackendState> BackendStateFromInt(int64_t value);

// One entry of health.State.Warnings (health.UnhealthyState, >= 1.70).
struct HealthWarning {
  std::string code;  // WarnableCode, e.g. "no-derp-home"
  std::string severity;
  std::string title;
  std::string text;
  std::map<std::string, std::string> args;
  std::vector<std::string> depends_on;
  bool impacts_connectivity = false;
};

// health.State: `"Warnings": null` means fully healthy (an empty map here).
struct HealthState {
  std::map<std::string, HealthWarning> warnings;  // keyed by code
};

// The subset of ipnstate.Status (GET status) the watchdog uses.
struct Status {
  std::string version;
  std::optional<BackendState> backend_state;  // nullopt: unknown string
  std::string backend_state_name;             // as sent
  bool have_node_key = false;
  std::vector<std::string> tailscale_ips;
  // Self: `Online` is true iff a control map long-poll is open.
  bool self_online = false;
  std::string self_relay;  // home DERP region code; "" = none
  std::string self_host_name;
  int64_t self_node_id = 0;  // absent before ~1.100
  // Legacy health strings; random order; null and [] both give an empty list.
  std::vector<std::string> health;
  bool health_was_null = false;
};

// The subset of ipn.Prefs the watchdog uses.
struct Prefs {
  bool want_running = false;
  bool logged_out = false;
  std::string control_url;
  std::string operator_user;
};

// ipn.EngineStatus (Notify.Engine).
struct EngineStatus {
  int64_t num_live = 0;
  int64_t live_derps = 0;
};

// One watch-ipn-bus line (ipn.Notify). Every member is optional because the
// server sends only what changed; `State` is the integer form here.
struct Notify {
  std::string version;
  std::string session_id;
  std::optional<std::string> err_message;
  std::optional<BackendState> state;
  std::optional<Prefs> prefs;
  std::optional<EngineStatus> engine;
  std::optional<HealthState> health;
};

// Whether tailscaled is closing the watch because we read too slowly
// (ErrMessage "IPN bus consumer fell behind; closing watch").
bool IsFellBehind(const Notify& notify);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_TAILSCALE_TYPES_H_
