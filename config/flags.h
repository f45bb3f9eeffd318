// Command-line flags for every config option (cxxopts), and the one loading
// path the daemon uses: config file, then flags over it, then validation.
#ifndef TSWATCHDOG_CONFIG_FLAGS_H_
#define TSWATCHDOG_CONFIG_FLAGS_H_

#include <cxxopts.hpp>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/result.h"

namespace config {

// Read when no --config is given, if it exists.
inline constexpr std::string_view kDefaultConfigPath =
    "/etc/tswatchdog/tswatchdog.toml";

// Registers --config FILE and one flag per option (--debounce,
// --settle-max, ...) in the group "Config", so that every subcommand shares
// one definition. Every flag takes text that ApplyFlags checks; booleans may
// be given without a value (--dry-run) or as --dry-run=false; lists are
// comma-separated (--ladder rebind,start); --restart-command is split on
// whitespace. --help shows each option's default.
void AddOptions(cxxopts::Options& options);

// Applies the flags that were given over `base` and validates the result.
// Errors name the flag: "--debounce: bad duration 'fast': ...".
Result<Config> ApplyFlags(Config base, const cxxopts::ParseResult& flags);

// The config file Load reads: the --config argument when given, else
// `default_path` when it exists, else "" (defaults only).
std::string ConfigFileFor(const cxxopts::ParseResult& flags,
                          std::string_view default_path = kDefaultConfigPath);

// Defaults, then the file of ConfigFileFor (an explicitly named file that
// is missing is an error), then the flags; validated once at the end, so a
// flag can fix a rule the file alone would break. Used at start and again
// on SIGHUP (the flags keep overriding the reloaded file).
Result<Config> Load(const cxxopts::ParseResult& flags,
                    std::string_view default_path = kDefaultConfigPath);

}  // namespace config

#endif  // TSWATCHDOG_CONFIG_FLAGS_H_
