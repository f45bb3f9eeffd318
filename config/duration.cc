#include "config/duration.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

#include "watchdog/core/time.h"

namespace config {
namespace {

using std::chrono::milliseconds;

// Largest first: a duration must use them in this order, each at most once.
constexpr auto& kUnits = watchdog::kDurationUnits;

constexpr std::string_view kUnitHint =
    "use h, m, s or ms, e.g. 250ms, 2s, 1m30s";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

ConfigError Bad(std::string_view text, std::string_view why) {
  ConfigError error;
  error.message =
      "bad duration '" + std::string(text) + "': " + std::string(why);
  return error;
}

}  // namespace

Result<milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Bad(text, "empty; " + std::string(kUnitHint));
  if (text.front() == '-') return Bad(text, "durations cannot be negative");

  int64_t total = 0;
  size_t next_unit = 0;  // index into kUnits of the largest unit still allowed
  size_t pos = 0;
  while (pos < text.size()) {
    if (!IsDigit(text[pos])) {
      return Bad(text,
                 "expected a number with a unit; " + std::string(kUnitHint));
    }
    uint64_t amount = 0;
    const char* begin = text.data() + pos;
    const char* end = text.data() + text.size();
    auto [after_number, ec] = std::from_chars(begin, end, amount);
    if (ec == std::errc::result_out_of_range) return Bad(text, "too large");
    pos += after_number - begin;

    if (pos == text.size()) {
      return Bad(text,
                 "a number needs a unit (" + std::string(kUnitHint) + ")");
    }
    if (text[pos] == '.' || text[pos] == ',') {
      return Bad(text,
                 "fractions are not supported; use a smaller unit, e.g. "
                 "1500ms instead of 1.5s");
    }
    size_t unit_begin = pos;
    while (pos < text.size() && IsLetter(text[pos])) ++pos;
    std::string_view unit_name = text.substr(unit_begin, pos - unit_begin);
    if (unit_name.empty()) {
      return Bad(text, "unexpected '" + std::string(1, text[pos]) + "'; " +
                           std::string(kUnitHint));
    }

    size_t unit_index = 0;
    while (unit_index < kUnits.size() && kUnits[unit_index].name != unit_name) {
      ++unit_index;
    }
    if (unit_index == kUnits.size()) {
      return Bad(text, "unknown unit '" + std::string(unit_name) + "'; " +
                           std::string(kUnitHint));
    }
    if (unit_index < next_unit) {
      return Bad(text,
                 "units must go from largest to smallest, each once (h, m, s, "
                 "ms)");
    }
    next_unit = unit_index + 1;

    const int64_t factor = kUnits[unit_index].millis;
    const int64_t max = std::numeric_limits<int64_t>::max();
    if (amount > static_cast<uint64_t>((max - total) / factor)) {
      return Bad(text, "too large");
    }
    total += static_cast<int64_t>(amount) * factor;
  }
  return milliseconds(total);
}

}  // namespace config
