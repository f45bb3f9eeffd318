// Internals shared by the config module's sources; not for other modules.
// One table describes every option once: its key, flag, type, help text
// and Config member. TOML parsing, flag parsing, --help and ToToml all
// walk that table, so an option cannot be half-added.
#ifndef TSWATCHDOG_CONFIG_INTERNAL_H_
#define TSWATCHDOG_CONFIG_INTERNAL_H_

#include <toml++/toml.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"
#include "config/result.h"

namespace config::internal {

// How an option's value is written and checked.
enum class Kind {
  kString,    // TOML string; flag text as is
  kDuration,  // TOML string "5s"; see ParseDuration
  kBool,      // TOML boolean; flag true/false, or no value for true
  kCount,     // TOML integer; flag decimal
  kSteps,     // TOML array of step names; flag comma-separated
  kArgv,      // TOML array of strings or one string split on whitespace;
              // flag split on whitespace
  kNames,     // TOML array of strings; flag comma-separated
  kLogLevel,  // TOML string; flag text
};

using Member =
    std::variant<std::string Config::*, std::chrono::milliseconds Config::*,
                 bool Config::*, int Config::*,
                 std::vector<LadderStep> Config::*,
                 std::vector<std::string> Config::*, LogLevel Config::*>;

struct OptionSpec {
  std::string_view key;  // TOML key; the flag is FlagName(key)
  Kind kind;
  Member member;
  std::string_view arg_name;  // shown by --help, e.g. DURATION
  std::string_view help;      // one line for --help and the TOML comment
};

// Every option, in the order of the Contract (tailscale_interface last).
std::span<const OptionSpec> AllOptions();
const OptionSpec* FindOption(std::string_view key);

// "settle_max" -> "settle-max" (cxxopts' name, without the leading "--").
std::string FlagName(std::string_view key);

// The known key closest to a misspelt one, or "" when none is close.
std::string ClosestKey(std::string_view unknown);

// "rebind, start, reup, restart, conntrack" (core's vocabulary) and "trace,
// debug, info, warn, error", for error messages.
using watchdog::KnownStepNames;
std::string KnownLogLevelNames();

// Where the user set a key: a file and line, or a flag. Keys left at their
// defaults have no origin.
struct Origin {
  std::string file;
  int line = 0;
  std::string flag;
};
using Origins = std::map<std::string, Origin, std::less<>>;

// A ConfigError about `key`, located where the user set it.
ConfigError ErrorAt(const Origins& origins, std::string_view key,
                    std::string message);

// Sets the option from a TOML value; the error carries file, line and key.
Result<void> SetFromToml(const OptionSpec& spec, const toml::node& node,
                         const std::string& file, Config& config);

// Sets the option from a flag's text; the error is the message only.
Result<void> SetFromText(const OptionSpec& spec, std::string_view text,
                         Config& config);

// The option's value as a TOML value, e.g. "5s" (with quotes) or [ "a" ].
std::string RenderToml(const OptionSpec& spec, const Config& config);

// The option's value as a flag takes it, e.g. 5s or rebind,start.
std::string RenderText(const OptionSpec& spec, const Config& config);

// Parses TOML text over `config`, recording where each key was set. Does
// not run Validate (the caller does, after any flags are applied).
Result<void> ApplyToml(std::string_view toml_text, const std::string& file,
                       Config& config, Origins& origins);

// Reads a whole file.
Result<std::string> ReadFile(const std::string& path);

// Validate, blaming the key the user set (see Origins) when a rule
// involves two keys.
Result<void> ValidateWithOrigins(const Config& config, const Origins& origins);

}  // namespace config::internal

#endif  // TSWATCHDOG_CONFIG_INTERNAL_H_
