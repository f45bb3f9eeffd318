// What the subcommands share: their exit statuses and how they parse their
// options.
#ifndef TSWATCHDOG_WATCHDOG_CLI_OPTIONS_H_
#define TSWATCHDOG_WATCHDOG_CLI_OPTIONS_H_

#include <cxxopts.hpp>
#include <variant>

namespace watchdog {

inline constexpr int kExitOk = 0;       // clean, healthy, done
inline constexpr int kExitProblem = 1;  // findings, not healthy, stale
inline constexpr int kExitError = 2;    // bad usage, nothing to read

// Parses argv. --help prints the help, a bad option (or, with
// `reject_stray`, a stray argument) prints "PROGRAM: why" to stderr: then
// the status to exit with comes back instead of the parse.
std::variant<cxxopts::ParseResult, int> ParseOptions(cxxopts::Options& options,
                                                     int argc, char** argv,
                                                     bool reject_stray = false);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CLI_OPTIONS_H_
