// Time vocabulary shared by the pure core and everything around it: the
// monotonic clock every timer and deadline is on, and the one spelling of a
// duration ("250ms", "1m30s") that logs, the config and its parser share.
#ifndef TSWATCHDOG_WATCHDOG_CORE_TIME_H_
#define TSWATCHDOG_WATCHDOG_CORE_TIME_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace watchdog {

using MonoClock = std::chrono::steady_clock;
using MonoTime = MonoClock::time_point;

struct DurationUnit {
  std::string_view name;
  int64_t millis;
};

// The units of a written duration, largest first: a duration uses them in
// this order, each at most once (config/duration.h parses them).
inline constexpr std::array<DurationUnit, 4> kDurationUnits = {{
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

// The canonical spelling, which config::ParseDuration reads back to the same
// value: a whole number of seconds is split into h, m and s, leaving out zero
// parts ("1h", "1m30s", "2h5s"); anything with a sub-second part is written
// in milliseconds only ("1500ms", "61500ms"); zero is "0s".
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_TIME_H_
