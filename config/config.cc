#include "config/config.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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

std::optional<ConfigError> ValidateWithOrigins(const Config& config,
                                               const Origins& origins) {
  for (const OptionSpec& spec : AllOptions()) {
    if (spec.kind != Kind::kDuration) continue;
    milliseconds value = config.*std::get<milliseconds Config::*>(spec.member);
    if (value < milliseconds(0)) {
      return ErrorAt(origins, spec.key, "must not be negative");
    }
    // Zero debounce and grace are for benchmarks and tests; every other
    // duration at zero would busy-loop or act before anything could happen.
    bool zero_allowed = spec.key == "debounce" || spec.key == "grace";
    if (value == milliseconds(0) && !zero_allowed) {
      return ErrorAt(origins, spec.key, "must be greater than 0");
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

  for (const std::string& unit : config.restart_on_ip) {
    if (unit.empty() || HasSpace(unit)) {
      return ErrorAt(origins, "restart_on_ip",
                     "'" + unit + "' is not a unit name");
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
  return std::nullopt;
}

std::optional<ConfigError> ApplyToml(std::string_view toml_text,
                                     const std::string& file, Config& config,
                                     Origins& origins) {
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
    if (auto error = internal::SetFromToml(*spec, node, file, config)) {
      keep_first(std::move(*error));
      continue;
    }
    origins[std::string(spec->key)] = internal::Origin{file, line, ""};
  }
  return first_error;
}

std::optional<ConfigError> ReadFile(const std::string& path,
                                    std::string& text) {
  ConfigError error;
  error.file = path;
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    error.message = "cannot read: is a directory";
    return error;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error.message = std::string("cannot open: ") + std::strerror(errno);
    return error;
  }
  text.assign(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) {
    error.message = std::string("cannot read: ") + std::strerror(errno);
    return error;
  }
  return std::nullopt;
}

}  // namespace internal

std::optional<ConfigError> Validate(const Config& config) {
  return internal::ValidateWithOrigins(config, {});
}

Result<Config> ParseToml(std::string_view toml_text,
                         const std::string& file_name) {
  Config config;
  Origins origins;
  if (auto error = internal::ApplyToml(toml_text, file_name, config, origins)) {
    return *std::move(error);
  }
  if (auto error = internal::ValidateWithOrigins(config, origins)) {
    return *std::move(error);
  }
  return config;
}

Result<Config> LoadFile(const std::string& path) {
  std::string text;
  if (auto error = internal::ReadFile(path, text)) return *std::move(error);
  return ParseToml(text, path);
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
