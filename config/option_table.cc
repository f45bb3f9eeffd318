// The option table and the per-type conversions between TOML values, flag
// text and Config members.
#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <sstream>

#include "config/internal.h"
#include "watchdog/core/text.h"

namespace config::internal {
namespace {

using std::chrono::milliseconds;

constexpr std::array<OptionSpec, 25> kOptions = {{
    {"socket", Kind::kString, &Config::socket, "PATH",
     "tailscaled's LocalAPI socket; empty: try "
     "/var/run/tailscale/tailscaled.sock, then /run/tailscale/tailscaled.sock"},
    {"debounce", Kind::kDuration, &Config::debounce, "DURATION",
     "quiet time after the last uplink change before deciding"},
    {"settle_max", Kind::kDuration, &Config::settle_max, "DURATION",
     "longest wait for the uplink to settle while it keeps changing"},
    {"grace", Kind::kDuration, &Config::grace, "DURATION",
     "time tailscaled gets to heal itself after a settled change, before the "
     "ladder runs"},
    {"verify", Kind::kDuration, &Config::verify, "DURATION",
     "time each ladder step gets to show an effect before the next one"},
    {"unhealthy_after", Kind::kDuration, &Config::unhealthy_after, "DURATION",
     "how long tailscaled may stay degraded on a stable uplink before the "
     "ladder runs"},
    {"start_timeout", Kind::kDuration, &Config::start_timeout, "DURATION",
     "how long tailscaled may stay Starting or NoState before that counts as "
     "degraded"},
    {"probe_interval", Kind::kDuration, &Config::probe_interval, "DURATION",
     "time between two looks at tailscaled's connections when nothing "
     "happens (0: only after changes and steps)"},
    {"kick_on_change", Kind::kBool, &Config::kick_on_change, "BOOL",
     "rebind once after each settled uplink change, before the grace period"},
    {"ladder", Kind::kSteps, &Config::ladder, "STEP,...",
     "recovery steps in order, each once; known: rebind, start, reup, "
     "restart, conntrack"},
    {"restart_command", Kind::kArgv, &Config::restart_command, "COMMAND",
     "command of the restart step, run without a shell; a single string is "
     "split on whitespace, with '...' and \"...\" quoting"},
    {"max_disruptive_per_hour", Kind::kCount, &Config::max_disruptive_per_hour,
     "N", "most reup and restart steps, together, in any hour (0: never)"},
    {"backoff_initial", Kind::kDuration, &Config::backoff_initial, "DURATION",
     "first pause after a failed step; doubles up to backoff_max"},
    {"backoff_max", Kind::kDuration, &Config::backoff_max, "DURATION",
     "longest pause between steps, and longest cooldown after the ladder"},
    {"restart_on_ip", Kind::kNames, &Config::restart_on_ip, "UNIT,...",
     "systemd units brought back when the Tailscale IP (re)appears and "
     "after a recovery: sockets started, other units restarted"},
    {"hooks_dir", Kind::kString, &Config::hooks_dir, "DIR",
     "directory of executables run on each transition; empty: none"},
    {"state_file", Kind::kString, &Config::state_file, "PATH",
     "JSON state file, written when what it shows changes and read by "
     "'tswatchdog status'; empty: none"},
    {"metrics_file", Kind::kString, &Config::metrics_file, "PATH",
     "Prometheus textfile, written when what it shows changes and every "
     "metrics_interval; empty: none"},
    {"metrics_interval", Kind::kDuration, &Config::metrics_interval, "DURATION",
     "how often the metrics file is rewritten while nothing changes (its "
     "staleness shows that the daemon is gone)"},
    {"dry_run", Kind::kBool, &Config::dry_run, "BOOL",
     "log each action instead of running it"},
    {"log_level", Kind::kLogLevel, &Config::log_level, "LEVEL",
     "trace, debug, info, warn or error"},
    {"log_style", Kind::kString, &Config::log_style, "STYLE",
     "auto, terminal, journal, plain (level: message on stderr) or syslog "
     "(facility daemon; for procd)"},
    {"tailscale_interface", Kind::kString, &Config::tailscale_interface, "NAME",
     "tun device tailscaled owns; its changes are tailscaled's own and "
     "ignored"},
    // mwan3 (issue 12)
    {"mwan3_steering", Kind::kBool, &Config::mwan3_steering, "BOOL",
     "mwan3 mode A: steer tailscaled to a WAN mwan3 says is online (one "
     "lower-metric main default of ours) while the main default's WAN is "
     "offline"},
    {"mwan3_flow_cleanup", Kind::kBool, &Config::mwan3_flow_cleanup, "BOOL",
     "mwan3 mode B: on a WAN's disconnected, delete the conntrack entries of "
     "tailscaled's flows that carry its mark"},
}};

template <typename T>
T& Field(const OptionSpec& spec, Config& config) {
  return config.*std::get<T Config::*>(spec.member);
}

template <typename T>
const T& Field(const OptionSpec& spec, const Config& config) {
  return config.*std::get<T Config::*>(spec.member);
}

int LineOf(const toml::node& node) {
  return static_cast<int>(node.source().begin.line);
}

// Formats a TOML node as TOML, with basic (double-quoted) strings.
std::string FormatNode(const toml::node& node) {
  std::ostringstream out;
  out << toml::toml_formatter{node, toml::format_flags::allow_unicode_strings};
  return out.str();
}

// "integer 5", "string \"yes\"", "array" (compound values are not shown).
std::string Describe(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  if (!node.is_array() && !node.is_table()) out << " " << FormatNode(node);
  return out.str();
}

using watchdog::IsSpace;
using watchdog::Trim;

// A message-only error; the caller adds where (file, line, key or flag).
ConfigError ValueError(std::string message) {
  ConfigError error;
  error.message = std::move(message);
  return error;
}

// Sets `field` to the parsed value, or passes the error on.
template <typename T>
Result<void> Assign(Result<T> parsed, T& field) {
  if (!parsed) return std::move(parsed).error();
  field = *std::move(parsed);
  return {};
}

// A command written as one string: words split on whitespace, with the
// shell's quoting so an argument can hold spaces ('...' literal, "..." with
// \" and \\, a backslash outside quotes escapes the next character). No
// expansion of any kind: the words are run without a shell. The OpenWrt init
// script quotes UCI list items this way.
Result<std::vector<std::string>> SplitCommand(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (quote == '\'') {
      if (c == '\'') {
        quote = 0;
      } else {
        word += c;
      }
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && pos + 1 < text.size() &&
                 (text[pos + 1] == '"' || text[pos + 1] == '\\')) {
        word += text[++pos];
      } else {
        word += c;
      }
    } else if (IsSpace(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      in_word = true;
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '\\') {
        if (pos + 1 == text.size()) {
          return ValueError("'" + std::string(text) +
                            "' ends with a lone backslash");
        }
        word += text[++pos];
      } else {
        word += c;
      }
    }
  }
  if (quote != 0) {
    return ValueError("unterminated " + std::string(quote == '"' ? "\"" : "'") +
                      " quote in '" + std::string(text) + "'");
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// "a, b,c" -> {"a", "b", "c"}; "" -> {}. An empty item ("a,,b") is an error.
Result<std::vector<std::string>> SplitOnCommas(std::string_view text,
                                               std::string_view what) {
  std::vector<std::string> items;
  if (Trim(text).empty()) return items;
  size_t begin = 0;
  while (true) {
    size_t comma = text.find(',', begin);
    std::string_view item = Trim(text.substr(begin, comma - begin));
    if (item.empty()) {
      return ValueError("empty " + std::string(what) + " in '" +
                        std::string(text) + "' (a list is written a,b,c)");
    }
    items.emplace_back(item);
    if (comma == std::string_view::npos) return items;
    begin = comma + 1;
  }
}

std::string UnknownStep(std::string_view name) {
  return "unknown step '" + std::string(name) +
         "' (known: " + KnownStepNames() + ")";
}

std::string UnknownLevel(std::string_view name) {
  return "unknown log level '" + std::string(name) +
         "' (known: " + KnownLogLevelNames() + ")";
}

// A TOML array's strings, with each one's line.
struct StringArray {
  std::vector<std::string> strings;
  std::vector<int> lines;
};

// Reads a TOML array whose elements must all be strings. On a non-string
// element, says which, with its line.
Result<StringArray> ReadStringArray(const toml::array& array) {
  StringArray out;
  for (size_t i = 0; i < array.size(); ++i) {
    const toml::node& element = *array.get(i);
    const auto* text = element.as_string();
    if (text == nullptr) {
      ConfigError error =
          ValueError("element " + std::to_string(i + 1) +
                     ": expected a string, got " + Describe(element));
      error.line = LineOf(element);
      return error;
    }
    out.strings.push_back(text->get());
    out.lines.push_back(LineOf(element));
  }
  return out;
}

// Step names to steps, for the TOML array (with each name's line, which the
// error of an unknown name carries) and the flag's list (no lines) alike.
Result<std::vector<LadderStep>> ParseSteps(
    const std::vector<std::string>& names, const std::vector<int>& lines = {}) {
  std::vector<LadderStep> steps;
  for (size_t i = 0; i < names.size(); ++i) {
    auto step = ParseStep(names[i]);
    if (!step) {
      ConfigError error = ValueError(UnknownStep(names[i]));
      if (i < lines.size()) error.line = lines[i];
      return error;
    }
    steps.push_back(*step);
  }
  return steps;
}

// The flag's spelling of a bool: exactly true or false.
Result<bool> ParseBoolText(std::string_view text) {
  if (text != "true" && text != "false") {
    return ValueError("expected true or false, got '" + std::string(text) +
                      "'");
  }
  return text == "true";
}

// The flag's spelling of a count: decimal, nothing else.
Result<int> ParseCountText(std::string_view text) {
  int number = 0;
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, number);
  if (text.empty() || ec != std::errc() || stop != end) {
    return ValueError("expected a whole number, got '" + std::string(text) +
                      "'");
  }
  return number;
}

std::string Join(const std::vector<std::string>& items,
                 std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::vector<std::string> StepNames(const std::vector<LadderStep>& steps) {
  std::vector<std::string> names;
  for (LadderStep step : steps) names.emplace_back(StepName(step));
  return names;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Each reads one kind of TOML value, or says why the node is not of that
// kind; the error of a bad array element carries its line.
Result<std::string> TomlString(const toml::node& node) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    return ValueError("expected a string, got " + Describe(node));
  }
  return text->get();
}

Result<milliseconds> TomlDuration(const toml::node& node) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    std::string message =
        "expected a duration string such as \"5s\" or \"250ms\", got " +
        Describe(node);
    if (node.is_number()) message += " (a number needs a unit)";
    return ValueError(std::move(message));
  }
  return ParseDuration(text->get());
}

Result<bool> TomlBool(const toml::node& node) {
  const auto* flag = node.as_boolean();
  if (flag == nullptr) {
    return ValueError("expected true or false, got " + Describe(node));
  }
  return flag->get();
}

Result<int> TomlCount(const toml::node& node) {
  const auto* number = node.as_integer();
  if (number == nullptr) {
    return ValueError("expected a whole number, got " + Describe(node));
  }
  if (number->get() > INT_MAX || number->get() < INT_MIN) {
    return ValueError("number " + std::to_string(number->get()) +
                      " is out of range");
  }
  return static_cast<int>(number->get());
}

Result<std::vector<LadderStep>> TomlSteps(const toml::node& node) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    return ValueError(
        "expected an array of step names such as [\"rebind\", "
        "\"start\"], got " +
        Describe(node));
  }
  auto names = ReadStringArray(*array);
  if (!names) return std::move(names).error();
  return ParseSteps(names->strings, names->lines);
}

// kArgv: an array of strings, or one string split as a command; kNames: an
// array of strings only.
Result<std::vector<std::string>> TomlStrings(const toml::node& node,
                                             Kind kind) {
  if (const auto* array = node.as_array()) {
    auto read = ReadStringArray(*array);
    if (!read) return std::move(read).error();
    return std::move(read->strings);
  }
  if (const auto* text = node.as_string();
      text != nullptr && kind == Kind::kArgv) {
    return SplitCommand(text->get());
  }
  return ValueError(std::string(kind == Kind::kArgv
                                    ? "expected an array of strings or a "
                                      "string, got "
                                    : "expected an array of strings, got ") +
                    Describe(node));
}

Result<LogLevel> TomlLogLevel(const toml::node& node) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    return ValueError("expected a string (" + KnownLogLevelNames() + "), got " +
                      Describe(node));
  }
  auto level = ParseLogLevel(text->get());
  if (!level) return ValueError(UnknownLevel(text->get()));
  return *level;
}

Result<void> SetValueFromToml(const OptionSpec& spec, const toml::node& node,
                              Config& config) {
  switch (spec.kind) {
    case Kind::kString:
      return Assign(TomlString(node), Field<std::string>(spec, config));
    case Kind::kDuration:
      return Assign(TomlDuration(node), Field<milliseconds>(spec, config));
    case Kind::kBool:
      return Assign(TomlBool(node), Field<bool>(spec, config));
    case Kind::kCount:
      return Assign(TomlCount(node), Field<int>(spec, config));
    case Kind::kSteps:
      return Assign(TomlSteps(node),
                    Field<std::vector<LadderStep>>(spec, config));
    case Kind::kArgv:
    case Kind::kNames:
      return Assign(TomlStrings(node, spec.kind),
                    Field<std::vector<std::string>>(spec, config));
    case Kind::kLogLevel:
      return Assign(TomlLogLevel(node), Field<LogLevel>(spec, config));
  }
  return ValueError("internal error: unhandled option kind");
}

}  // namespace

std::span<const OptionSpec> AllOptions() { return kOptions; }

const OptionSpec* FindOption(std::string_view key) {
  for (const OptionSpec& spec : kOptions) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

std::string FlagName(std::string_view key) {
  std::string flag(key);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string ClosestKey(std::string_view unknown) {
  // Dashes for underscores is the likeliest slip (the flag spelling).
  std::string normalized(unknown);
  std::replace(normalized.begin(), normalized.end(), '-', '_');
  std::string best;
  size_t best_distance = 3;  // more edits than this is not a typo
  for (const OptionSpec& spec : kOptions) {
    size_t distance = EditDistance(normalized, spec.key);
    if (distance < best_distance) {
      best_distance = distance;
      best = spec.key;
    }
  }
  return best;
}

ConfigError ErrorAt(const Origins& origins, std::string_view key,
                    std::string message) {
  ConfigError error;
  error.key = key;
  error.message = std::move(message);
  if (auto it = origins.find(key); it != origins.end()) {
    error.file = it->second.file;
    error.line = it->second.line;
    error.flag = it->second.flag;
  }
  return error;
}

Result<void> SetFromToml(const OptionSpec& spec, const toml::node& node,
                         const std::string& file, Config& config) {
  Result<void> set = SetValueFromToml(spec, node, config);
  if (set) return set;
  ConfigError error = std::move(set).error();
  error.file = file;
  if (error.line == 0) error.line = LineOf(node);
  error.key = spec.key;
  return error;
}

Result<void> SetFromText(const OptionSpec& spec, std::string_view text,
                         Config& config) {
  switch (spec.kind) {
    case Kind::kString:
      Field<std::string>(spec, config) = std::string(text);
      return {};
    case Kind::kDuration:
      return Assign(ParseDuration(text), Field<milliseconds>(spec, config));
    case Kind::kBool:
      return Assign(ParseBoolText(text), Field<bool>(spec, config));
    case Kind::kCount:
      return Assign(ParseCountText(text), Field<int>(spec, config));
    case Kind::kSteps: {
      auto names = SplitOnCommas(text, "step");
      if (!names) return std::move(names).error();
      return Assign(ParseSteps(*names),
                    Field<std::vector<LadderStep>>(spec, config));
    }
    case Kind::kArgv:
      return Assign(SplitCommand(text),
                    Field<std::vector<std::string>>(spec, config));
    case Kind::kNames:
      return Assign(SplitOnCommas(text, "name"),
                    Field<std::vector<std::string>>(spec, config));
    case Kind::kLogLevel: {
      auto level = ParseLogLevel(text);
      if (!level) return ValueError(UnknownLevel(text));
      Field<LogLevel>(spec, config) = *level;
      return {};
    }
  }
  return ValueError("internal error: unhandled option kind");
}

std::string RenderToml(const OptionSpec& spec, const Config& config) {
  auto string_array = [](const std::vector<std::string>& items) {
    toml::array array;
    for (const std::string& item : items) array.push_back(item);
    return FormatNode(array);
  };
  switch (spec.kind) {
    case Kind::kString:
      return FormatNode(
          toml::value<std::string>(Field<std::string>(spec, config)));
    case Kind::kDuration:
      return FormatNode(toml::value<std::string>(
          FormatDuration(Field<milliseconds>(spec, config))));
    case Kind::kBool:
      return Field<bool>(spec, config) ? "true" : "false";
    case Kind::kCount:
      return std::to_string(Field<int>(spec, config));
    case Kind::kSteps:
      return string_array(
          StepNames(Field<std::vector<LadderStep>>(spec, config)));
    case Kind::kArgv:
    case Kind::kNames:
      return string_array(Field<std::vector<std::string>>(spec, config));
    case Kind::kLogLevel:
      return FormatNode(toml::value<std::string>(
          std::string(LogLevelName(Field<LogLevel>(spec, config)))));
  }
  return "";
}

std::string RenderText(const OptionSpec& spec, const Config& config) {
  switch (spec.kind) {
    case Kind::kString:
      return Field<std::string>(spec, config);
    case Kind::kDuration:
      return FormatDuration(Field<milliseconds>(spec, config));
    case Kind::kBool:
      return Field<bool>(spec, config) ? "true" : "false";
    case Kind::kCount:
      return std::to_string(Field<int>(spec, config));
    case Kind::kSteps:
      return Join(StepNames(Field<std::vector<LadderStep>>(spec, config)), ",");
    case Kind::kArgv:
      return Join(Field<std::vector<std::string>>(spec, config), " ");
    case Kind::kNames:
      return Join(Field<std::vector<std::string>>(spec, config), ",");
    case Kind::kLogLevel:
      return std::string(LogLevelName(Field<LogLevel>(spec, config)));
  }
  return "";
}

}  // namespace config::internal
