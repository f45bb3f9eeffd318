// The parts of tailscaled's LocalAPI JSON that tswatchdog reads, and pure
// parsers for them. Unknown fields are ignored; missing or null fields take the
// defaults below. See /work/shared/localapi.md section 3 for the wire shapes.
#ifndef TSWATCHDOG_WATCHDOG_TAILSCALE_TYPES_H_
#define TSWATCHDOG_WATCHDOG_TAILSCALE_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace watchdog {

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

// The value of a parse, or why it failed. (std::expected is C++23.)
template <typename T>
class Parsed {
 public:
  Parsed(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  static Parsed Error(std::string message) {
    Parsed p;
    p.value_ = ErrorText{std::move(message)};
    return p;
  }
  bool ok() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return ok(); }
  const T& value() const { return std::get<T>(value_); }
  T& value() { return std::get<T>(value_); }
  const T* operator->() const { return &value(); }
  const T& operator*() const { return value(); }
  const std::string& error() const { return std::get<ErrorText>(value_).text; }

 private:
  struct ErrorText {
    std::string text;
  };
  Parsed() = default;
  std::variant<T, ErrorText> value_;
};

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

// JSON nested deeper than this is refused before it is parsed. tailscaled's
// replies nest about 8 deep; a body of 8 MiB of "[" made nlohmann::json
// build 645 MB of nested arrays and spend 5 s of CPU.
inline constexpr int kMaxJsonDepth = 64;

// Whether `json_text` opens more than `max_depth` arrays and objects inside
// each other (brackets inside strings do not count). One pass, no memory.
bool JsonNestedDeeperThan(std::string_view json_text, int max_depth);

// Every parser below refuses JSON nested deeper than kMaxJsonDepth.
Parsed<Status> ParseStatus(std::string_view json_text);
Parsed<Prefs> ParsePrefs(std::string_view json_text);
Parsed<Notify> ParseNotify(std::string_view json_line);
// Parses a health.State object on its own (as found in Notify.Health).
Parsed<HealthState> ParseHealthState(std::string_view json_text);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_TAILSCALE_TYPES_H_
