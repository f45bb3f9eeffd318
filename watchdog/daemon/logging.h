// Log output for the three ways tswatchdog runs: in a terminal (coloured,
// human timestamps), under systemd (stderr is the journal: "<N>" priority
// prefixes, no timestamps of our own), and under procd or a pipe (plain lines).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_LOGGING_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_LOGGING_H_

#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>

#include "config/config.h"

namespace watchdog {

enum class LogStyle { kTerminal, kJournal, kPlain, kSyslog };

// kJournal when $JOURNAL_STREAM names our stderr (sd-daemon(3)), kTerminal
// when stderr is a tty, else kPlain.
LogStyle DetectLogStyle();
std::string_view LogStyleName(LogStyle style);
// The `log_style` config value: "auto" is DetectLogStyle(); nullopt for an
// unknown name (config validation rejects those first).
std::optional<LogStyle> LogStyleFromConfig(std::string_view name);

spdlog::level::level_enum SpdlogLevel(config::LogLevel level);

// One line on stderr for an error that ends the program before logging is
// set up (a bad flag or config: exit 2), at error priority where stderr is
// the journal ("<3>"), so that `journalctl -p err` shows why the unit failed.
void PrintStartupError(std::string_view message);

// Installs the default logger ("tswatchdog"): stderr, or syslog(3) with
// ident "tswatchdog" and facility daemon for kSyslog.
void SetupLogging(LogStyle style, spdlog::level::level_enum level);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_LOGGING_H_
