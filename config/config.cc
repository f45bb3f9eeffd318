#include "config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <utility>

#include "config/internal.h"

namespace config {
namespace {

using internal::ErrorAt;
using internal::Origins;
using std::chrono::milliseconds;

template <typename Enum, size_t N>
using NameTable = std::array<std::pair<Enum, std::string_view>, N>;

constexpr NameTable<LogLevel, 5> kLevelNames = {{
    {LogLevel::kTrace, "trace"},
    {LogLevel::kDebug, "debug"},
    {LogLevel::kInfo, "info"},
    {LogLevel::kWarn, "warn"},
    {LogLevel::kError, "error"},
}};

template <typename Enum, size_t N>
std::string_view NameOf(const NameTable<Enum, N>& table, Enum value) {
  for (const auto& [known, name] : table) {
    if (known == value) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::string JoinNames(const NameTable<Enum, N>& table) {
  std::string joined;
  for (const auto& [value, name] : table) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

template <typename Enum, size_t N>
std::optional<Enum> ValueOf(const NameTable<Enum, N>& table,
                            std::string_view name) {
  for (const auto& [value, known] : table) {
    if (known == name) return value;
  }
  return std::nullopt;
}

// Linux interface names are at most IFNAMSIZ - 1 = 15 bytes.
constexpr size_t kMaxInterfaceName = 15;

bool HasSpace(std::string_view text) {
  return text.find_first_of(" \t\n\r\f\v") != std::string_view::npos;
}

// systemd's unit name rules (unit_name_is_valid() in systemd's
// src/basic/unit-name.c): at most 255 bytes; a prefix of letters, digits and
// ":-_.\\@", where the first '@' is neither first nor last (an instance,
// never a bare template); a suffix naming a unit type; and here, no
// leading '-' or '.'. A name without a known suffix is checked as systemctl
// would run it, with ".service" appended (and is an init script's name on
// OpenWrt). The rules leave no room for '/' or whitespace, so a name is
// never a path or two arguments.
bool IsUnitName(std::string_view name) {
  static constexpr std::string_view kTypes[] = {
      "service", "socket", "target", "device", "mount", "automount",
      "swap",    "timer",  "path",   "slice",  "scope"};
  std::string full(name);
  const size_t dot = full.rfind('.');
  const std::string_view suffix =
      dot == std::string::npos ? "" : std::string_view(full).substr(dot + 1);
  if (std::find(std::begin(kTypes), std::end(kTypes), suffix) ==
      std::end(kTypes)) {
    full += ".service";
  }
  constexpr size_t kUnitNameMax = 256;  // systemd's UNIT_NAME_MAX, with NUL
  const size_t end = full.rfind('.');
  // A leading '-' is valid for systemd ("-.mount") but reads as an option
  // to every other program, and "." or ".." would name a directory in
  // /etc/init.d: never a unit anyone restarts here.
  if (name.empty() || name.front() == '-' || name.front() == '.' ||
      full.size() >= kUnitNameMax || end == 0) {
    return false;
  }
  const size_t at = full.find('@');
  if (at == 0 || (at != std::string::npos && at + 1 >= end)) return false;
  for (size_t i = 0; i < end; ++i) {
    const char c = full[i];
    const bool valid =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') ||
        std::string_view(":-_.\\@").find(c) != std::string_view::npos;
    if (!valid) return false;
  }
  return true;
}

// Of the keys a rule involves, blame the one the user set last: a flag
// before a file key. When none was set the defaults themselves break the
// rule, so name the first.
std::string_view Culprit(const Origins& origins,
                         std::initializer_list<std::string_view> keys) {
  for (bool want_flag : {true, false}) {
    for (std::string_view key : keys) {
      auto it = origins.find(key);
      if (it != origins.end() && (!want_flag || !it->second.flag.empty())) {
        return key;
      }
    }
  }
  return *keys.begin();
}

// Every tswatchdog option is a top-level key; this many dotted parts on one
// line is far past any key that could mean something, and far below the
// nesting that exhausts toml++'s recursion (a key of ~35k parts, a 64 KB
// file, overflowed the stack).
constexpr int kMaxDotsPerLine = 32;

std::string TooLarge(size_t size) {
  return "larger than " + std::to_string(kMaxConfigBytes) + " bytes (" +
         (size > kMaxConfigBytes ? "at least " : "") + std::to_string(size) +
         "); a tswatchdog config is a few KiB";
}

// Where the scan is: in TOML code, or inside a comment or a string.
enum class Lexeme {
  kCode,
  kComment,
  kBasic,
  kLiteral,
  kMultiBasic,
  kMultiLiteral
};

// Advances over text[i] (and what it opens or closes) from `in`; returns the
// new state. A lexer just good enough to know strings and comments: basic
// "..." with escapes, literal '...', their multi-line forms, # to the end of
// the line.
Lexeme Advance(std::string_view text, size_t& i, Lexeme in) {
  const char c = text[i];
  const std::string_view rest = text.substr(i);
  if (c == '\n') {
    // Single-line forms end here (or are errors the parser will name).
    return in == Lexeme::kMultiBasic || in == Lexeme::kMultiLiteral
               ? in
               : Lexeme::kCode;
  }
  auto skip_three = [&i](Lexeme next) {
    i += 2;
    return next;
  };
  switch (in) {
    case Lexeme::kCode:
      if (c == '#') return Lexeme::kComment;
      if (rest.starts_with("\"\"\"")) return skip_three(Lexeme::kMultiBasic);
      if (rest.starts_with("'''")) return skip_three(Lexeme::kMultiLiteral);
      if (c == '"') return Lexeme::kBasic;
      if (c == '\'') return Lexeme::kLiteral;
      return in;
    case Lexeme::kBasic:
    case Lexeme::kMultiBasic:
      if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
        ++i;  // the escaped character
        return in;
      }
      if (in == Lexeme::kBasic && c == '"') return Lexeme::kCode;
      if (rest.starts_with("\"\"\"")) return skip_three(Lexeme::kCode);
      return in;
    case Lexeme::kLiteral:
      return c == '\'' ? Lexeme::kCode : in;
    case Lexeme::kMultiLiteral:
      return rest.starts_with("'''") ? skip_three(Lexeme::kCode) : in;
    case Lexeme::kComment:
      return in;
  }
  return in;
}

// Refuses, before the TOML parser sees it, text it could not parse safely:
// over kMaxConfigBytes, or a line with more than kMaxDotsPerLine dots outside
// strings and comments (the dotted keys and table headers that nest tables).
Result<void> CheckTomlBounds(std::string_view text, const std::string& file) {
  ConfigError error;
  error.file = file;
  if (text.size() > kMaxConfigBytes) {
    error.message = TooLarge(text.size());
    return error;
  }
  Lexeme in = Lexeme::kCode;
  int line = 1, dots = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      dots = 0;
    } else if (in == Lexeme::kCode && text[i] == '.' &&
               ++dots > kMaxDotsPerLine) {
      error.line = line;
      error.message = "nested too deeply: more than " +
                      std::to_string(kMaxDotsPerLine) +
                      " dots outside strings on one line (tswatchdog's "
                      "options are top-level keys)";
      return error;
    }
    in = Advance(text, i, in);
  }
  return {};
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  return NameOf(kLevelNames, level);
}

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  return ValueOf(kLevelNames, name);
}

namespace internal {

std::string KnownLogLevelNames() { return JoinNames(kLevelNames); }

}  // namespace internal

std::vector<std::string> SocketCandidates(const Config& config) {
  if (!config.socket.empty()) return {config.socket};
  return {std::begin(kDefaultSocketPaths), std::end(kDefaultSocketPaths)};
}

namespace internal {

namespace {

// Each duration in its range, and the two rules between durations.
Result<void> ValidateDurations(const Config& config, const Origins& origins) {
  for (const OptionSpec& spec : AllOptions()) {
    if (spec.kind != Kind::kDuration) continue;
    milliseconds value = config.*std::get<milliseconds Config::*>(spec.member);
    if (value < milliseconds(0)) {
      return ErrorAt(origins, spec.key, "must not be negative");
    }
    // Zero debounce and grace are for benchmarks and tests; every other
    // duration at zero would busy-loop or act before anything could happen.
    bool zero_allowed = spec.key == "debounce" || spec.key == "grace" ||
                        spec.key == "probe_interval";  // 0: off
    if (value == milliseconds(0) && !zero_allowed) {
      return ErrorAt(origins, spec.key, "must be greater than 0");
    }
    if (value > kMaxDuration) {
      return ErrorAt(origins, spec.key,
                     FormatDuration(value) + " is too long: at most " +
                         FormatDuration(kMaxDuration));
    }
  }

  if (config.debounce > config.settle_max) {
    return ErrorAt(origins, Culprit(origins, {"debounce", "settle_max"}),
                   "debounce (" + FormatDuration(config.debounce) +
                       ") must not be longer than settle_max (" +
                       FormatDuration(config.settle_max) + ")");
  }
  if (config.backoff_initial > config.backoff_max) {
    return ErrorAt(
        origins, Culprit(origins, {"backoff_initial", "backoff_max"}),
        "backoff_initial (" + FormatDuration(config.backoff_initial) +
            ") must not be longer than backoff_max (" +
            FormatDuration(config.backoff_max) + ")");
  }
  return {};
}

// restart_on_ip, log_style, tailscale_interface.
Result<void> ValidateNames(const Config& config, const Origins& origins) {
  for (const std::string& unit : config.restart_on_ip) {
    if (!IsUnitName(unit)) {
      return ErrorAt(origins, "restart_on_ip",
                     "'" + unit +
                         "' is not a unit name (systemd's rules: letters, "
                         "digits and :-_.\\@, at most 255 characters, e.g. "
                         "ssh.socket or dropbear)");
    }
  }

  static constexpr std::string_view kLogStyles[] = {
      "auto", "terminal", "journal", "plain", "syslog"};
  if (std::find(std::begin(kLogStyles), std::end(kLogStyles),
                config.log_style) == std::end(kLogStyles)) {
    return ErrorAt(origins, "log_style",
                   "unknown log style '" + config.log_style +
                       "' (known: auto, terminal, journal, plain, syslog)");
  }

  const std::string& interface = config.tailscale_interface;
  if (interface.empty() || interface.size() > kMaxInterfaceName ||
      HasSpace(interface) || interface.find('/') != std::string::npos) {
    return ErrorAt(origins, "tailscale_interface",
                   "'" + interface +
                       "' is not an interface name (1 to 15 characters, no "
                       "'/' or spaces)");
  }
  return {};
}

}  // namespace

Result<void> ValidateWithOrigins(const Config& config, const Origins& origins) {
  if (auto valid = ValidateDurations(config, origins); !valid) return valid;
  if (config.ladder.empty()) {
    return ErrorAt(origins, "ladder", "must name at least one step");
  }
  for (size_t i = 0; i < config.ladder.size(); ++i) {
    auto earlier = std::find(config.ladder.begin(), config.ladder.begin() + i,
                             config.ladder[i]);
    if (earlier != config.ladder.begin() + i) {
      return ErrorAt(origins, "ladder",
                     "step '" + std::string(StepName(config.ladder[i])) +
                         "' appears more than once");
    }
  }

  for (size_t i = 0; i < config.restart_command.size(); ++i) {
    if (config.restart_command[i].empty()) {
      return ErrorAt(origins, "restart_command",
                     "argument " + std::to_string(i + 1) + " is empty");
    }
  }
  bool ladder_restarts = std::find(config.ladder.begin(), config.ladder.end(),
                                   LadderStep::kRestart) != config.ladder.end();
  if (ladder_restarts && config.restart_command.empty()) {
    return ErrorAt(origins, Culprit(origins, {"restart_command", "ladder"}),
                   "restart_command is empty but the ladder has the 'restart' "
                   "step; set a command or remove the step");
  }

  if (config.max_disruptive_per_hour < 0) {
    return ErrorAt(origins, "max_disruptive_per_hour",
                   "must be 0 or more, got " +
                       std::to_string(config.max_disruptive_per_hour));
  }

  return ValidateNames(config, origins);
}

Result<void> ApplyToml(std::string_view toml_text, const std::string& file,
                       Config& config, Origins& origins) {
  if (auto bounded = CheckTomlBounds(toml_text, file); !bounded) {
    return bounded;
  }
  toml::table table;
  try {
    table = toml::parse(toml_text, std::string_view(file));
  } catch (const toml::parse_error& error) {
    ConfigError syntax;
    syntax.file = file;
    syntax.line = static_cast<int>(error.source().begin.line);
    syntax.column = static_cast<int>(error.source().begin.column);
    syntax.message = "TOML syntax error: " + std::string(error.description());
    return syntax;
  }

  // The table iterates in key order; report the error nearest the top of
  // the file, as a reader would meet it.
  std::optional<ConfigError> first_error;
  auto keep_first = [&first_error](ConfigError error) {
    if (!first_error || error.line < first_error->line) {
      first_error = std::move(error);
    }
  };
  for (const auto& [key, node] : table) {
    const int line = static_cast<int>(key.source().begin.line);
    const internal::OptionSpec* spec = internal::FindOption(key.str());
    if (spec == nullptr) {
      ConfigError unknown;
      unknown.file = file;
      unknown.line = line;
      unknown.key = key.str();
      unknown.message = node.is_table() ? "unknown table" : "unknown key";
      if (std::string close = internal::ClosestKey(key.str()); !close.empty()) {
        unknown.message += " (did you mean '" + close + "'?)";
      }
      keep_first(std::move(unknown));
      continue;
    }
    if (auto set = internal::SetFromToml(*spec, node, file, config); !set) {
      keep_first(std::move(set).error());
      continue;
    }
    origins[std::string(spec->key)] = internal::Origin{file, line, ""};
  }
  if (first_error) return *std::move(first_error);
  return {};
}

Result<std::string> ReadFile(const std::string& path) {
  ConfigError error;
  error.file = path;
  auto fail = [&error](std::string message) {
    error.message = std::move(message);
    return error;
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  std::unique_ptr<FILE, int (*)(FILE*)> file(fdopen(fd, "rb"), &std::fclose);
  struct stat st {};
  if (!file || fstat(fd, &st) != 0) {
    const int saved = errno;
    if (!file) close(fd);
    return fail(std::string("cannot read: ") + std::strerror(saved));
  }
  const bool dev_null =
      S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
  if (S_ISDIR(st.st_mode)) return fail("cannot read: is a directory");
  if (!S_ISREG(st.st_mode) && !dev_null) {
    return fail(std::string("cannot read: not a regular file (") +
                (S_ISFIFO(st.st_mode)   ? "a FIFO"
                 : S_ISCHR(st.st_mode)  ? "a character device"
                 : S_ISBLK(st.st_mode)  ? "a block device"
                 : S_ISSOCK(st.st_mode) ? "a socket"
                                        : "not a file") +
                ")");
  }
  // One byte more than allowed tells "too large" from "exactly the limit".
  std::string text;
  char buffer[65536];
  while (text.size() <= kMaxConfigBytes) {
    const size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, n);
    if (n < sizeof buffer) {
      if (!std::ferror(file.get())) return text;
      return fail(std::string("cannot read: ") + std::strerror(errno));
    }
  }
  return fail(TooLarge(text.size()));
}

}  // namespace internal

Result<void> Validate(const Config& config) {
  return internal::ValidateWithOrigins(config, {});
}

Result<Config> ParseToml(std::string_view toml_text,
                         const std::string& file_name) {
  Config config;
  Origins origins;
  if (auto applied = internal::ApplyToml(toml_text, file_name, config, origins);
      !applied) {
    return std::move(applied).error();
  }
  if (auto valid = internal::ValidateWithOrigins(config, origins); !valid) {
    return std::move(valid).error();
  }
  return config;
}

Result<Config> LoadFile(const std::string& path) {
  auto text = internal::ReadFile(path);
  if (!text) return std::move(text).error();
  return ParseToml(*text, path);
}

std::string ToToml(const Config& config) {
  const Config defaults;
  std::string out =
      "# tswatchdog configuration (the effective values, as printed by\n"
      "# 'tswatchdog run --print-config').\n"
      "# Durations: a number with a unit (h, m, s, ms), largest unit first,\n"
      "# e.g. \"250ms\", \"2s\", \"1m30s\".\n";
  for (const internal::OptionSpec& spec : internal::AllOptions()) {
    out += "\n# " + std::string(spec.help) + "\n";
    out += "# default: " + internal::RenderToml(spec, defaults) + "\n";
    out += std::string(spec.key) + " = " + internal::RenderToml(spec, config) +
           "\n";
  }
  return out;
}

}  // namespace config
