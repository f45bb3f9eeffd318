// Pure parsers for the LocalAPI JSON that tswatchdog reads (status, prefs,
// watch-ipn-bus lines, the DERP map) into the values of
// watchdog/core/tailscale_types.h. Unknown fields are ignored; a missing, null
// or wrongly typed field gives its default, so a tailscaled version that
// changes an unrelated field cannot break us.
#ifndef TSWATCHDOG_WATCHDOG_LOCALAPI_TAILSCALE_JSON_H_
#define TSWATCHDOG_WATCHDOG_LOCALAPI_TAILSCALE_JSON_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "watchdog/core/connections.h"
#include "watchdog/core/tailscale_types.h"

namespace watchdog {

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

// The message of an error body: text/plain (http.Error), {"error":..}
// (WriteErrorJSON) or {"Error":..} (prefs). It enters the daemon's state
// (the state file's JSON, log lines): trimmed, at most 300 bytes plus "...",
// never cut inside a character, valid UTF-8 whatever the server sent.
std::string ServerMessageFromBody(const std::string& body);

// `GET derpmap` (tailcfg.DERPMap): where the DERP servers listen, for telling
// DERP connections from the control connection. Shape:
//   {"Regions": {"1": {"RegionID": 1, "Nodes": [{"Name": "1a",
//     "RegionID": 1, "HostName": "derp1.example", "IPv4": "192.0.2.1",
//     "IPv6": "2001:db8::1", "DERPPort": 0, "STUNOnly": false}]}}}
// IPv4/IPv6 are optional; anything but an address literal of their family
// ("none" disables the family, a name means DNS) gives no address. DERPPort
// 0 or absent means 443. STUN-only nodes run no DERP server: left out. A
// malformed node is skipped (and counted), a malformed map is an error.
struct DerpMap {
  std::vector<DerpServer> servers;  // by region ID, then node order
  size_t skipped = 0;
};
Parsed<DerpMap> ParseDerpMap(std::string_view json_text);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_LOCALAPI_TAILSCALE_JSON_H_
