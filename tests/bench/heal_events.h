// Reading the fake tailscaled's event log (`--events`, JSON lines with
// `unix_ms`) and request log for benchmark 5 (heal_bench.cc). Pure: events in,
// times out, so the definition of "healed" is tested on its own
// (tests/bench/heal_events_test.cc).
#ifndef TSWATCHDOG_TESTS_BENCH_HEAL_EVENTS_H_
#define TSWATCHDOG_TESTS_BENCH_HEAL_EVENTS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace bench {

// One JSON object per line; lines that do not parse are skipped.
std::vector<nlohmann::json> ReadEvents(const std::string& path);

// The event's kind ("online", "control-dial", ...): its "event" field, or
// "type" when there is none.
std::string Kind(const nlohmann::json& event);

// The last `online` event's value (false before any).
bool CurrentOnline(const std::vector<nlohmann::json>& events);

// tailscaled counts as healed when it is Online (the last `online` event
// says true), shows no `router` warning (the last `health` event's
// `visible` codes), and a control connection that connected at or after `t0`
// (`control-connected`: its handshake went through a live path) is still
// open (no `control-closed` with its local address since) and connected no
// later than `confirmed_before` (it has lived a while). The healing time is
// the latest of that connection, the first `online: true` after it, and the
// end of the router warning.
std::optional<int64_t> HealedAt(const std::vector<nlohmann::json>& events,
                                int64_t t0, int64_t confirmed_before);

struct Steps {
  int start = 0, reup = 0, restart = 0;
};
// Disruptive steps at or after `t0`: `POST start` and `PATCH prefs` with
// WantRunning false from the fake's request log, restarts from `restarts`
// (one line per restart: its time in ms since the epoch).
Steps CountSteps(const std::vector<nlohmann::json>& requests,
                 const std::string& restarts, int64_t t0);

}  // namespace bench

#endif  // TSWATCHDOG_TESTS_BENCH_HEAL_EVENTS_H_
