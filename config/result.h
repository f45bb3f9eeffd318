// Errors as values for the config module: a ConfigError names where the bad
// input is (file and line, or the command-line flag) and which key it sets.
#ifndef TSWATCHDOG_CONFIG_RESULT_H_
#define TSWATCHDOG_CONFIG_RESULT_H_

#include <string>

#include "watchdog/core/expected.h"

namespace config {

struct ConfigError {
  std::string file;  // the config file; empty for flags and pure values
  int line = 0;      // 1-based; 0 when unknown or not from a file
  int column = 0;    // 1-based; only TOML syntax errors carry one
  std::string key;   // the config key, e.g. "ladder"; empty for file errors
  std::string flag;  // the flag, e.g. "--ladder", when the value came from it
  std::string message;

  // "/etc/tswatchdog.toml:7: key 'ladder': unknown step 'reboot' (...)",
  // "--debounce: bad duration 'fast': ...", "key 'verify': must be ...".
  std::string ToString() const;

  bool operator==(const ConfigError&) const = default;
};

// Either a value or the ConfigError that prevented it (core/expected.h).
template <typename T>
using Result = watchdog::Expected<T, ConfigError>;

}  // namespace config

#endif  // TSWATCHDOG_CONFIG_RESULT_H_
