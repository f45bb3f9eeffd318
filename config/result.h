// Errors as values for the config module: a ConfigError names where the bad
// input is (file and line, or the command-line flag) and which key it sets.
#ifndef TSWATCHDOG_CONFIG_RESULT_H_
#define TSWATCHDOG_CONFIG_RESULT_H_

#include <string>
#include <utility>
#include <variant>

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

// Either a value or the ConfigError that prevented it. value() and error()
// must only be called on the side that holds (check ok() first).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(ConfigError error)                      // NOLINT: implicit by design
      : state_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return std::get<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  const ConfigError& error() const { return std::get<ConfigError>(state_); }

 private:
  std::variant<T, ConfigError> state_;
};

}  // namespace config

#endif  // TSWATCHDOG_CONFIG_RESULT_H_
