// Log output for the three ways tswatchdog runs: in a terminal (coloured,
// human timestamps), under systemd (stderr is the journal: "<N>" priority
// prefixes, no timestamps of our own), and under procd or a pipe (plain lines).
#ifndef TSWATCHDOG_WATCHDOG_LOGGING_H_
#define TSWATCHDOG_WATCHDOG_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string_view>

#include "config/config.h"

namespace watchdog {

enum class LogStyle { kTerminal, kJournal, kPlain };

// kJournal when $JOURNAL_STREAM names our stderr (sd-daemon(3)), kTerminal
// when stderr is a tty, else kPlain.
LogStyle DetectLogStyle();
std::string_view LogStyleName(LogStyle style);

spdlog::level::level_enum SpdlogLevel(config::LogLevel level);

// Installs the default logger ("tswatchdog") writing to stderr.
void SetupLogging(LogStyle style, spdlog::level::level_enum level);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_LOGGING_H_
