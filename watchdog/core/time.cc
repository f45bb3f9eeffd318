#include "watchdog/core/time.h"

namespace watchdog {

std::string FormatDuration(std::chrono::milliseconds duration) {
  int64_t millis = duration.count();
  // Never valid in a Config; spelled plainly (and without negating, which
  // could overflow) so that a log line still shows it.
  if (millis < 0) return std::to_string(millis) + "ms";
  if (millis == 0) return "0s";
  if (millis % 1000 != 0) return std::to_string(millis) + "ms";

  std::string out;
  for (const DurationUnit& unit : kDurationUnits) {
    if (unit.millis < 1000) break;
    int64_t amount = millis / unit.millis;
    millis %= unit.millis;
    if (amount > 0) out += std::to_string(amount) + std::string(unit.name);
  }
  return out;
}

}  // namespace watchdog
