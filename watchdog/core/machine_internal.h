// What machine.cc and machine_ladder.cc share; nothing else includes it.
#ifndef TSWATCHDOG_WATCHDOG_CORE_MACHINE_INTERNAL_H_
#define TSWATCHDOG_WATCHDOG_CORE_MACHINE_INTERNAL_H_

#include <chrono>
#include <string>

namespace watchdog::machine_internal {

// The window of max_disruptive_per_hour.
inline constexpr auto kRateWindow = std::chrono::hours(1);

// "15s", "1m30s", and "12.3s" for jittered values (FormatDuration would
// write "12345ms").
std::string Human(std::chrono::milliseconds duration);

}  // namespace watchdog::machine_internal

#endif  // TSWATCHDOG_WATCHDOG_CORE_MACHINE_INTERNAL_H_
