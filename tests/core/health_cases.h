// The health classifier's test vocabulary, shared by the core's table
// (tests/core/health_test.cc, hand-written inputs) and the LocalAPI
// fixtures' (tests/localapi/health_fixtures_test.cc, parsed replies).
#ifndef TSWATCHDOG_TESTS_CORE_HEALTH_CASES_H_
#define TSWATCHDOG_TESTS_CORE_HEALTH_CASES_H_

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "watchdog/core/health.h"

namespace watchdog::health_cases {

using std::chrono::seconds;

inline Status MakeStatus(const std::string& state, bool online,
                         std::string relay, std::vector<std::string> health) {
  Status s;
  s.backend_state_name = state;
  s.backend_state = BackendStateFromName(state);
  s.self_online = online;
  s.self_relay = std::move(relay);
  s.health = std::move(health);
  return s;
}

inline Prefs Running() {
  Prefs p;
  p.want_running = true;
  return p;
}

inline HealthState Warnings(std::vector<std::string> codes) {
  HealthState h;
  for (auto& code : codes) {
    HealthWarning w;
    w.code = code;
    w.text = "text of " + code;
    h.warnings[code] = w;
  }
  return h;
}

inline std::vector<std::string> Codes(const HealthVerdict& v) {
  std::vector<std::string> out;
  for (const auto& r : v.reasons) out.push_back(r.code);
  return out;
}

inline const MonoTime kNow = MonoTime{} + std::chrono::hours(100);

struct Case {
  std::string name;
  HealthInputs inputs;
  HealthKind want_kind;
  std::vector<std::string> want_codes;
};

inline HealthInputs Inputs(Status status, std::optional<HealthState> bus = {},
                           std::optional<Prefs> prefs = Running(),
                           bool uplink = true) {
  HealthInputs in;
  in.status = std::move(status);
  in.bus_health = std::move(bus);
  in.prefs = std::move(prefs);
  in.uplink_usable = uplink;
  in.now = kNow;
  in.start_timeout = seconds(60);
  return in;
}

inline HealthInputs StartedAgo(HealthInputs in, seconds ago) {
  in.starting_since = kNow - ago;
  return in;
}

// Classifies every case; the kind and the reason codes must match.
inline void ExpectCases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const HealthVerdict v = ClassifyHealth(c.inputs);
    EXPECT_EQ(HealthKindName(v.kind), HealthKindName(c.want_kind))
        << v.Describe();
    EXPECT_EQ(Codes(v), c.want_codes) << v.Describe();
  }
}

}  // namespace watchdog::health_cases

#endif  // TSWATCHDOG_TESTS_CORE_HEALTH_CASES_H_
