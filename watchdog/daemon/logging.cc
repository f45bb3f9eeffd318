#include "watchdog/daemon/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "netlink/utf8.h"

namespace watchdog {
namespace {

// "%*" renders the syslog priority the journal reads from a line prefix
// (sd-daemon(3): SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>", SD_DEBUG
// "<7>").
class JournalPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* prefix = "<6>";
    switch (msg.level) {
      case spdlog::level::critical:
        prefix = "<2>";
        break;
      case spdlog::level::err:
        prefix = "<3>";
        break;
      case spdlog::level::warn:
        prefix = "<4>";
        break;
      case spdlog::level::info:
        prefix = "<6>";
        break;
      default:
        prefix = "<7>";
        break;
    }
    dest.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriorityFlag>();
  }
};

// Every message passes through here on its way to the real sink: text from
// outside the daemon (tailscaled's error bodies, children's output, interface
// names) is in log lines, and a newline in it would start a line of its own
// (a forged "<0>critical:" in the journal). netlink::EscapeForLog makes each
// message one line of valid UTF-8 whatever it quotes.
class OneLineSink : public spdlog::sinks::sink {
 public:
  explicit OneLineSink(std::shared_ptr<spdlog::sinks::sink> inner)
      : inner_(std::move(inner)) {}
  void log(const spdlog::details::log_msg& msg) override {
    const std::string safe = netlink::EscapeForLog(
        std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(safe.data(), safe.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override {
    inner_->set_pattern(pattern);
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

spdlog::level::level_enum SpdlogLevel(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace:
      return spdlog::level::trace;
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

void PrintStartupError(std::string_view message) {
  const char* prefix = DetectLogStyle() == LogStyle::kJournal ? "<3>" : "";
  std::fprintf(stderr, "%s%.*s\n", prefix, static_cast<int>(message.size()),
               message.data());
}

LogStyle DetectLogStyle() {
  if (const char* stream = std::getenv("JOURNAL_STREAM")) {
    // "<dev>:<inode>" of the journal's stream socket; it is ours only if
    // stderr still points at it (not redirected by a wrapper script).
    unsigned long long dev = 0, ino = 0;
    struct stat st {};
    if (std::sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
        fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev &&
        st.st_ino == ino) {
      return LogStyle::kJournal;
    }
  }
  return isatty(STDERR_FILENO) ? LogStyle::kTerminal : LogStyle::kPlain;
}

std::string_view LogStyleName(LogStyle style) {
  switch (style) {
    case LogStyle::kTerminal:
      return "terminal";
    case LogStyle::kJournal:
      return "journal";
    case LogStyle::kPlain:
      return "plain";
    case LogStyle::kSyslog:
      return "syslog";
  }
  return "?";
}

std::optional<LogStyle> LogStyleFromConfig(std::string_view name) {
  if (name == "auto") return DetectLogStyle();
  for (LogStyle style : {LogStyle::kTerminal, LogStyle::kJournal,
                         LogStyle::kPlain, LogStyle::kSyslog}) {
    if (LogStyleName(style) == name) return style;
  }
  return std::nullopt;
}

void SetupLogging(LogStyle style, spdlog::level::level_enum level) {
  spdlog::drop("tswatchdog");
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (style == LogStyle::kSyslog) {
    // procd logs a service's stderr at LOG_ERR whatever the line says; syslog
    // carries each line's own priority to logd (logread shows daemon.info,
    // daemon.warn, ...). The sink maps spdlog levels to syslog priorities.
    sink = std::make_shared<spdlog::sinks::syslog_sink_st>(
        "tswatchdog", LOG_PID, LOG_DAEMON, /*enable_formatting=*/false);
  } else {
    auto stderr_sink = std::make_shared<spdlog::sinks::stderr_color_sink_st>(
        style == LogStyle::kTerminal ? spdlog::color_mode::automatic
                                     : spdlog::color_mode::never);
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    switch (style) {
      case LogStyle::kTerminal:
        formatter->set_pattern("%H:%M:%S.%e %^%-5l%$ %v");
        break;
      case LogStyle::kJournal:
        formatter->add_flag<JournalPriorityFlag>('*').set_pattern("%*%v");
        break;
      case LogStyle::kPlain:
      case LogStyle::kSyslog:  // handled above
        formatter->set_pattern("%l: %v");
        break;
    }
    stderr_sink->set_formatter(std::move(formatter));
    sink = std::move(stderr_sink);
  }
  auto logger = std::make_shared<spdlog::logger>(
      "tswatchdog", std::make_shared<OneLineSink>(std::move(sink)));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // a daemon's log must not lag
  spdlog::register_logger(logger);
  spdlog::set_default_logger(logger);
}

}  // namespace watchdog
