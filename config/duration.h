// Durations as written in the config file and on the command line: a
// sequence of <number><unit> from the largest unit to the smallest, with the
// units h, m, s and ms: "250ms", "2s", "1m30s", "1h", "1h2m3s4ms".
#ifndef TSWATCHDOG_CONFIG_DURATION_H_
#define TSWATCHDOG_CONFIG_DURATION_H_

#include <chrono>
#include <string>
#include <string_view>

#include "config/result.h"
#include "watchdog/core/time.h"

namespace config {

// The longest duration any option may have: a year. The daemon adds
// durations to a nanosecond monotonic clock, which overflows near 2.5
// million hours; a year is far beyond any sensible timing and far below that.
inline constexpr std::chrono::milliseconds kMaxDuration =
    std::chrono::hours(24 * 365);

// Parses a duration. Rejected, with a message that says why: an empty
// string, a bare number without a unit ("5"), a negative sign, fractions
// ("1.5s"), unknown units, units out of order or repeated ("30s1m", "1s1s"),
// spaces, and values that overflow. Only `message` of the error is set; the
// caller adds the file, line, key or flag.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The canonical spelling is watchdog::FormatDuration (core, shared with the
// logs).
using watchdog::FormatDuration;

}  // namespace config

#endif  // TSWATCHDOG_CONFIG_DURATION_H_
