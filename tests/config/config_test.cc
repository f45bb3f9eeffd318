// Tests of config/: durations, defaults, the TOML file, flags, validation
// and the --print-config round trip.
#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/duration.h"
#include "config/flags.h"

namespace config {

// Shows a Config in failure messages as the TOML it would print (found by
// GoogleTest through argument-dependent lookup, so not in the anonymous
// namespace).
void PrintTo(const Config& config, std::ostream* out) {
  *out << "\n" << ToToml(config);
}

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Every option of the Contract plus tailscale_interface.
const std::vector<std::string> kAllKeys = {
    "socket",
    "debounce",
    "settle_max",
    "grace",
    "verify",
    "unhealthy_after",
    "start_timeout",
    "probe_interval",
    "kick_on_change",
    "ladder",
    "restart_command",
    "max_disruptive_per_hour",
    "backoff_initial",
    "backoff_max",
    "restart_on_ip",
    "hooks_dir",
    "state_file",
    "metrics_file",
    "metrics_interval",
    "dry_run",
    "log_level",
    "log_style",
    "tailscale_interface",
    "mwan3_steering",
    "mwan3_flow_cleanup",
};

// A file under /tmp with the given content, removed when it goes out of
// scope.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/tswatchdog-config-test-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) {
      ADD_FAILURE() << "mkstemp failed";
      return;
    }
    path_ = name;
    if (write(fd, content.data(), content.size()) !=
        static_cast<ssize_t>(content.size())) {
      ADD_FAILURE() << "short write to " << path_;
    }
    close(fd);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Parses a command line with the options AddOptions registers. The Options
// object is kept alive next to the result, as cxxopts expects.
class Flags {
 public:
  explicit Flags(const std::vector<std::string>& args)
      : options_(std::make_unique<cxxopts::Options>("tswatchdog", "test")) {
    AddOptions(*options_);
    std::vector<const char*> argv = {"tswatchdog"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    result_ = options_->parse(static_cast<int>(argv.size()), argv.data());
  }

  const cxxopts::ParseResult& result() const { return result_; }

 private:
  std::unique_ptr<cxxopts::Options> options_;
  cxxopts::ParseResult result_;
};

// A path that does not exist, for "no default config file".
constexpr char kNoSuchFile[] = "/tmp/tswatchdog-config-test-does-not-exist";

std::string ErrorText(const Result<Config>& result) {
  return result.ok() ? "(no error)" : result.error().ToString();
}

// A valid config in which every field differs from its default.
Config EveryFieldChanged() {
  Config config;
  config.socket = "/tmp/tailscaled.sock";
  config.debounce = seconds(2);
  config.settle_max = seconds(90);
  config.grace = seconds(0);
  config.verify = milliseconds(250);
  config.unhealthy_after = minutes(2);
  config.start_timeout = hours(1);
  config.probe_interval = seconds(0);
  config.kick_on_change = false;
  config.ladder = {LadderStep::kStart, LadderStep::kRebind,
                   LadderStep::kConntrack, LadderStep::kRestart};
  config.restart_command = {"/bin/sh", "-c",
                            "/etc/init.d/tailscale restart && logger ok"};
  config.max_disruptive_per_hour = 0;
  config.backoff_initial = seconds(1);
  config.backoff_max = minutes(5);
  config.restart_on_ip = {"ssh.socket", "nginx.service"};
  config.hooks_dir = "/etc/tswatchdog/hooks.d";
  config.state_file = "/var/lib/tswatchdog/state.json";
  config.metrics_file = "/var/lib/node_exporter/tswatchdog.prom";
  config.metrics_interval = seconds(15);
  config.dry_run = true;
  config.log_level = LogLevel::kDebug;
  config.log_style = "syslog";
  config.tailscale_interface = "ts0";
  config.mwan3_steering = false;
  config.mwan3_flow_cleanup = false;
  return config;
}

// The "key = value" line of each key in ToToml's output.
std::map<std::string, std::string> KeyLines(const Config& config) {
  std::map<std::string, std::string> lines;
  std::istringstream toml(ToToml(config));
  for (std::string line; std::getline(toml, line);) {
    size_t equals = line.find(" = ");
    if (line.empty() || line[0] == '#' || equals == std::string::npos) continue;
    lines[line.substr(0, equals)] = line;
  }
  return lines;
}

// --- Durations --------------------------------------------------------------

TEST(ParseDurationTest, AcceptsUnitsAndCombinations) {
  const struct {
    const char* text;
    milliseconds want;
  } cases[] = {
      {"0s", milliseconds(0)},
      {"0ms", milliseconds(0)},
      {"250ms", milliseconds(250)},
      {"1500ms", milliseconds(1500)},
      {"2s", seconds(2)},
      {"90s", seconds(90)},
      {"1m", minutes(1)},
      {"10m", minutes(10)},
      {"1h", hours(1)},
      {"1m30s", seconds(90)},
      {"1h2m3s4ms", hours(1) + minutes(2) + seconds(3) + milliseconds(4)},
      {"2h5s", hours(2) + seconds(5)},
      {"1s500ms", milliseconds(1500)},
      {"007s", seconds(7)},
  };
  for (const auto& c : cases) {
    auto parsed = ParseDuration(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error().message;
    EXPECT_EQ(parsed.value(), c.want) << c.text;
  }
}

TEST(ParseDurationTest, RejectsBadInputSayingWhy) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"", "bad duration '': empty"},
      {"5", "bad duration '5': a number needs a unit"},
      {"1m30", "bad duration '1m30': a number needs a unit"},
      {"fast", "bad duration 'fast': expected a number with a unit"},
      {"-5s", "bad duration '-5s': durations cannot be negative"},
      {"1.5s", "bad duration '1.5s': fractions are not supported"},
      {"5x", "bad duration '5x': unknown unit 'x'"},
      {"5S", "bad duration '5S': unknown unit 'S'"},
      {"5sec", "bad duration '5sec': unknown unit 'sec'"},
      {"30s1m", "bad duration '30s1m': units must go from largest"},
      {"1s1s", "bad duration '1s1s': units must go from largest"},
      {"5 s", "bad duration '5 s': unexpected ' '"},
      {" 5s", "bad duration ' 5s': expected a number"},
      {"s", "bad duration 's': expected a number"},
      {"99999999999999999999h", "too large"},
      {"9999999999999999h", "too large"},
      {"9223372036854776s", "too large"},
  };
  for (const auto& c : cases) {
    auto parsed = ParseDuration(c.text);
    ASSERT_FALSE(parsed.ok())
        << "'" << c.text << "' parsed as " << parsed.value().count() << "ms";
    EXPECT_NE(parsed.error().message.find(c.why), std::string::npos)
        << "'" << c.text << "': " << parsed.error().message;
  }
}

TEST(FormatDurationTest, CanonicalForm) {
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(61500)), "61500ms");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(seconds(0)), "0s");
  EXPECT_EQ(FormatDuration(seconds(5)), "5s");
  EXPECT_EQ(FormatDuration(minutes(10)), "10m");
  EXPECT_EQ(FormatDuration(hours(1)), "1h");
  EXPECT_EQ(FormatDuration(hours(2) + seconds(5)), "2h5s");
  EXPECT_EQ(FormatDuration(hours(25) + minutes(1)), "25h1m");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  const milliseconds values[] = {
      milliseconds(0),
      milliseconds(1),
      milliseconds(999),
      milliseconds(1000),
      milliseconds(1001),
      seconds(59),
      seconds(60),
      seconds(61),
      seconds(3599),
      hours(1),
      hours(1) + seconds(1),
      hours(100) + minutes(59),
      milliseconds(86'400'123),
  };
  for (milliseconds value : values) {
    std::string text = FormatDuration(value);
    auto parsed = ParseDuration(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
    EXPECT_EQ(parsed.value(), value) << text;
  }
}

// --- Defaults ---------------------------------------------------------------

TEST(ConfigDefaultsTest, MatchTheDesign) {
  const Config config;
  EXPECT_EQ(config.socket, "");
  EXPECT_EQ(config.debounce, seconds(5));
  EXPECT_EQ(config.settle_max, seconds(60));
  EXPECT_EQ(config.grace, seconds(20));
  EXPECT_EQ(config.verify, seconds(15));
  EXPECT_EQ(config.unhealthy_after, seconds(90));
  EXPECT_EQ(config.start_timeout, seconds(60));
  EXPECT_EQ(config.probe_interval, seconds(15));
  EXPECT_TRUE(config.kick_on_change);
  EXPECT_EQ(config.ladder,
            (std::vector<LadderStep>{LadderStep::kRebind, LadderStep::kStart,
                                     LadderStep::kReup, LadderStep::kRestart}));
  EXPECT_EQ(
      config.restart_command,
      (std::vector<std::string>{"systemctl", "restart", "tailscaled.service"}));
  EXPECT_EQ(config.max_disruptive_per_hour, 3);
  EXPECT_EQ(config.backoff_initial, seconds(10));
  EXPECT_EQ(config.backoff_max, minutes(10));
  EXPECT_TRUE(config.restart_on_ip.empty());
  EXPECT_EQ(config.hooks_dir, "");
  EXPECT_EQ(config.state_file, "/run/tswatchdog/state.json");
  EXPECT_EQ(config.metrics_file, "");
  EXPECT_EQ(config.metrics_interval, minutes(1));
  EXPECT_FALSE(config.dry_run);
  EXPECT_EQ(config.log_level, LogLevel::kInfo);
  EXPECT_EQ(config.tailscale_interface, "tailscale0");
}

TEST(ConfigDefaultsTest, AreValid) { EXPECT_TRUE(Validate(Config{}).ok()); }

// Guards the tests that compare against EveryFieldChanged(): they only
// prove a key is read if its value there is not the default.
TEST(ConfigDefaultsTest, EveryFieldChangedDiffersInEveryKey) {
  ASSERT_TRUE(Validate(EveryFieldChanged()).ok());
  auto changed = KeyLines(EveryFieldChanged());
  auto defaults = KeyLines(Config{});
  ASSERT_EQ(defaults.size(), kAllKeys.size());
  for (const std::string& key : kAllKeys) {
    ASSERT_EQ(changed.count(key), 1u) << key;
    EXPECT_NE(changed[key], defaults[key]);
  }
}

TEST(ConfigDefaultsTest, EmptyFileGivesDefaults) {
  auto parsed = ParseToml("", "empty.toml");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_EQ(parsed.value(), Config{});
}

TEST(ConfigDefaultsTest, SocketCandidates) {
  Config config;
  EXPECT_EQ(SocketCandidates(config),
            (std::vector<std::string>{"/var/run/tailscale/tailscaled.sock",
                                      "/run/tailscale/tailscaled.sock"}));
  config.socket = "/tmp/ts.sock";
  EXPECT_EQ(SocketCandidates(config), std::vector<std::string>{"/tmp/ts.sock"});
}

TEST(NamesTest, StepsAndLevelsRoundTrip) {
  for (auto step : {LadderStep::kRebind, LadderStep::kStart, LadderStep::kReup,
                    LadderStep::kRestart, LadderStep::kConntrack}) {
    EXPECT_EQ(ParseStep(StepName(step)), step) << StepName(step);
  }
  EXPECT_EQ(StepName(LadderStep::kConntrack), "conntrack");
  EXPECT_EQ(ParseStep("reboot"), std::nullopt);
  for (auto level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                     LogLevel::kWarn, LogLevel::kError}) {
    EXPECT_EQ(ParseLogLevel(LogLevelName(level)), level);
  }
  EXPECT_EQ(LogLevelName(LogLevel::kWarn), "warn");
  EXPECT_EQ(ParseLogLevel("warning"), std::nullopt);
}

// --- The TOML file
// ------------------------------------------------------------

TEST(ParseTomlTest, ReadsEveryKey) {
  auto parsed = ParseToml(R"(
socket = "/tmp/tailscaled.sock"
debounce = "2s"
settle_max = "1m30s"
grace = "0s"
verify = "250ms"
unhealthy_after = "2m"
start_timeout = "1h"
probe_interval = "0s"
kick_on_change = false
ladder = ["start", "rebind", "conntrack", "restart"]
restart_command = ["/bin/sh", "-c", "/etc/init.d/tailscale restart && logger ok"]
max_disruptive_per_hour = 0
backoff_initial = "1s"
backoff_max = "5m"
restart_on_ip = ["ssh.socket", "nginx.service"]
hooks_dir = "/etc/tswatchdog/hooks.d"
state_file = "/var/lib/tswatchdog/state.json"
metrics_file = "/var/lib/node_exporter/tswatchdog.prom"
metrics_interval = "15s"
dry_run = true
log_level = "debug"
log_style = "syslog"
tailscale_interface = "ts0"
mwan3_steering = false
mwan3_flow_cleanup = false
)",
                          "all.toml");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_EQ(parsed.value(), EveryFieldChanged());
}

TEST(ParseTomlTest, KeysLeftOutKeepTheirDefaults) {
  auto parsed = ParseToml("debounce = \"1s\"\n", "one.toml");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  Config want;
  want.debounce = seconds(1);
  EXPECT_EQ(parsed.value(), want);
}

TEST(ParseTomlTest, RestartCommandAsOneStringIsSplitOnWhitespace) {
  auto parsed = ParseToml(
      "restart_command = \"  /etc/init.d/tailscale\trestart  \"\n", "x.toml");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_EQ(parsed.value().restart_command,
            (std::vector<std::string>{"/etc/init.d/tailscale", "restart"}));
}

TEST(ParseTomlTest, RestartCommandStringKeepsQuotedArguments) {
  const struct {
    const char* toml;
    std::vector<std::string> want;
  } cases[] = {
      {R"(restart_command = "sh -c 'a  b' \"c \\\"d\\\" e\"")",
       {"sh", "-c", "a  b", "c \"d\" e"}},
      {R"(restart_command = "it\\'s 'x'y\"\"z ''")", {"it's", "xyz", ""}},
      {R"(restart_command = '/opt/my\ tools/restart "$HOME" \\n')",
       {"/opt/my tools/restart", "$HOME", "\\n"}},
  };
  for (const auto& c : cases) {
    auto parsed = ParseToml(std::string(c.toml) + "\n", "x.toml");
    if (c.want.back().empty()) {
      // An empty argument ('') is written on purpose but still refused.
      ASSERT_FALSE(parsed.ok()) << c.toml;
      EXPECT_EQ(parsed.error().ToString(),
                "x.toml:1: key 'restart_command': argument 3 is empty");
      continue;
    }
    ASSERT_TRUE(parsed.ok()) << c.toml << ": " << ErrorText(parsed);
    EXPECT_EQ(parsed.value().restart_command, c.want) << c.toml;
  }
}

TEST(ParseTomlTest, EmptyRestartCommandIsFineWithoutTheRestartStep) {
  auto parsed = ParseToml(
      "ladder = [\"rebind\", \"start\"]\nrestart_command = []\n", "x.toml");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_TRUE(parsed.value().restart_command.empty());
}

TEST(ParseTomlTest, ZeroDebounceAndGraceAreAllowed) {
  auto parsed = ParseToml("debounce = \"0s\"\ngrace = \"0ms\"\n", "x.toml");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_EQ(parsed.value().debounce, milliseconds(0));
  EXPECT_EQ(parsed.value().grace, milliseconds(0));
}

// Each error kind, with the exact text the user sees: file, line and key.
TEST(ParseTomlErrorTest, NamesFileLineAndKey) {
  const struct {
    const char* toml;
    const char* want;
  } cases[] = {
      // Unknown key, with a suggestion for a typo.
      {"debounce = \"5s\"\n\ndebouce = \"5s\"\n",
       "/etc/tswatchdog.toml:3: key 'debouce': unknown key (did you mean "
       "'debounce'?)"},
      {"settle-max = \"5s\"\n",
       "/etc/tswatchdog.toml:1: key 'settle-max': unknown key (did you mean "
       "'settle_max'?)"},
      {"colour = \"blue\"\n",
       "/etc/tswatchdog.toml:1: key 'colour': unknown key"},
      {"\n[watchdog]\ndebounce = \"5s\"\n",
       "/etc/tswatchdog.toml:2: key 'watchdog': unknown table"},
      // Wrong types.
      {"debounce = 5\n",
       "/etc/tswatchdog.toml:1: key 'debounce': expected a duration string "
       "such as \"5s\" or \"250ms\", got integer 5 (a number needs a unit)"},
      {"\nkick_on_change = \"yes\"\n",
       "/etc/tswatchdog.toml:2: key 'kick_on_change': expected true or false, "
       "got string \"yes\""},
      {"max_disruptive_per_hour = \"3\"\n",
       "/etc/tswatchdog.toml:1: key 'max_disruptive_per_hour': expected a "
       "whole number, got string \"3\""},
      {"socket = 1.5\n",
       "/etc/tswatchdog.toml:1: key 'socket': expected a string, got "
       "floating-point 1.5"},
      {"ladder = \"rebind\"\n",
       "/etc/tswatchdog.toml:1: key 'ladder': expected an array of step names "
       "such as [\"rebind\", \"start\"], got string \"rebind\""},
      {"restart_on_ip = \"ssh.socket\"\n",
       "/etc/tswatchdog.toml:1: key 'restart_on_ip': expected an array of "
       "strings, got string \"ssh.socket\""},
      {"restart_command = [\"systemctl\",\n  3]\n",
       "/etc/tswatchdog.toml:2: key 'restart_command': element 2: expected a "
       "string, got integer 3"},
      {"log_level = 2\n",
       "/etc/tswatchdog.toml:1: key 'log_level': expected a string (trace, "
       "debug, info, warn, error), got integer 2"},
      // Bad and negative durations.
      {"grace = \"fast\"\n",
       "/etc/tswatchdog.toml:1: key 'grace': bad duration 'fast': expected a "
       "number with a unit; use h, m, s or ms, e.g. 250ms, 2s, 1m30s"},
      {"# comment\nverify = \"-5s\"\n",
       "/etc/tswatchdog.toml:2: key 'verify': bad duration '-5s': durations "
       "cannot be negative"},
      {"verify = \"15\"\n",
       "/etc/tswatchdog.toml:1: key 'verify': bad duration '15': a number "
       "needs a unit (use h, m, s or ms, e.g. 250ms, 2s, 1m30s)"},
      // Unknown ladder step: the line of the element itself.
      {"debounce = \"5s\"\nladder = [\n  \"rebind\",\n  \"start\",\n  "
       "\"reup\",\n  \"restart\",\n  \"reboot\",\n]\n",
       "/etc/tswatchdog.toml:7: key 'ladder': unknown step 'reboot' (known: "
       "rebind, start, reup, restart, conntrack)"},
      {"ladder = []\n",
       "/etc/tswatchdog.toml:1: key 'ladder': must name at least one step"},
      {"ladder = [\"rebind\", \"start\", \"rebind\"]\n",
       "/etc/tswatchdog.toml:1: key 'ladder': step 'rebind' appears more than "
       "once"},
      {"log_level = \"verbose\"\n",
       "/etc/tswatchdog.toml:1: key 'log_level': unknown log level 'verbose' "
       "(known: trace, debug, info, warn, error)"},
      // Empty restart_command while the ladder restarts.
      {"\n\nrestart_command = []\n",
       "/etc/tswatchdog.toml:3: key 'restart_command': restart_command is "
       "empty but the ladder has the 'restart' step; set a command or remove "
       "the step"},
      {"restart_command = \"   \"\n",
       "/etc/tswatchdog.toml:1: key 'restart_command': restart_command is "
       "empty but the ladder has the 'restart' step; set a command or remove "
       "the step"},
      {"restart_command = [\"systemctl\", \"\"]\n",
       "/etc/tswatchdog.toml:1: key 'restart_command': argument 2 is empty"},
      {"\nrestart_command = \"sh -c 'echo hi\"\n",
       "/etc/tswatchdog.toml:2: key 'restart_command': unterminated ' quote in "
       "'sh -c 'echo hi'"},
      {"log_style = \"stderr\"\n",
       "/etc/tswatchdog.toml:1: key 'log_style': unknown log style 'stderr' "
       "(known: auto, terminal, journal, plain, syslog)"},
      // Cross-field rules blame the key the file set.
      {"\nbackoff_initial = \"11m\"\n",
       "/etc/tswatchdog.toml:2: key 'backoff_initial': backoff_initial (11m) "
       "must not be longer than backoff_max (10m)"},
      {"backoff_max = \"5s\"\n",
       "/etc/tswatchdog.toml:1: key 'backoff_max': backoff_initial (10s) must "
       "not be longer than backoff_max (5s)"},
      {"debounce = \"2m\"\n",
       "/etc/tswatchdog.toml:1: key 'debounce': debounce (2m) must not be "
       "longer than settle_max (1m)"},
      {"verify = \"0s\"\n",
       "/etc/tswatchdog.toml:1: key 'verify': must be greater than 0"},
      {"settle_max = \"0ms\"\ndebounce = \"0s\"\n",
       "/etc/tswatchdog.toml:1: key 'settle_max': must be greater than 0"},
      {"max_disruptive_per_hour = -1\n",
       "/etc/tswatchdog.toml:1: key 'max_disruptive_per_hour': must be 0 or "
       "more, got -1"},
      {"max_disruptive_per_hour = 9999999999\n",
       "/etc/tswatchdog.toml:1: key 'max_disruptive_per_hour': number "
       "9999999999 is out of range"},
      {"restart_on_ip = [\"ssh socket\"]\n",
       "/etc/tswatchdog.toml:1: key 'restart_on_ip': 'ssh socket' is not a "
       "unit name (systemd's rules: letters, digits and :-_.\\@, at most 255 "
       "characters, e.g. ssh.socket or dropbear)"},
      {"tailscale_interface = \"a-very-long-ifname0\"\n",
       "/etc/tswatchdog.toml:1: key 'tailscale_interface': "
       "'a-very-long-ifname0' is not an interface name (1 to 15 characters, "
       "no '/' or spaces)"},
      // TOML syntax errors carry line and column.
      {"debounce = \"5s\"\ngrace = \n",
       "/etc/tswatchdog.toml:2:9: TOML syntax error: Error while parsing "
       "key-value pair: expected value, saw '\\n'"},
      {"debounce = \"5s\"\ndebounce = \"6s\"\n",
       "/etc/tswatchdog.toml:2:12: TOML syntax error: Error while parsing "
       "key-value pair: cannot redefine existing string 'debounce'"},
  };
  for (const auto& c : cases) {
    auto parsed = ParseToml(c.toml, "/etc/tswatchdog.toml");
    ASSERT_FALSE(parsed.ok()) << c.toml;
    EXPECT_EQ(parsed.error().ToString(), c.want) << c.toml;
  }
}

TEST(ParseTomlErrorTest, ErrorFieldsAreSetSeparately) {
  auto parsed = ParseToml("\nladder = [\"reboot\"]\n", "/etc/x.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().file, "/etc/x.toml");
  EXPECT_EQ(parsed.error().line, 2);
  EXPECT_EQ(parsed.error().key, "ladder");
  EXPECT_EQ(parsed.error().flag, "");
}

TEST(ParseTomlErrorTest, ReportsTheErrorNearestTheTop) {
  // Keys are checked in a table's (alphabetical) order; the report must
  // still be the first problem in the file.
  auto parsed =
      ParseToml("verify = \"x\"\nbackoff_max = 5\nzzz = 1\n", "/etc/x.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().line, 1);
  EXPECT_EQ(parsed.error().key, "verify");
}

// --- Files -----------------------------------------------------------------

TEST(LoadFileTest, ReadsAFile) {
  TempFile file("grace = \"7s\"\nladder = [\"rebind\"]\n");
  auto loaded = LoadFile(file.path());
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value().grace, seconds(7));
  EXPECT_EQ(loaded.value().ladder,
            std::vector<LadderStep>{LadderStep::kRebind});
}

TEST(LoadFileTest, ErrorsNameTheRealPath) {
  TempFile file("debounce = \"5s\"\nladder = [\"reboot\"]\n");
  auto loaded = LoadFile(file.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().ToString(),
            file.path() +
                ":2: key 'ladder': unknown step 'reboot' (known: rebind, "
                "start, reup, restart, conntrack)");
}

TEST(LoadFileTest, MissingFileIsAnError) {
  auto loaded = LoadFile(kNoSuchFile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(
      loaded.error().ToString(),
      std::string(kNoSuchFile) + ": cannot open: No such file or directory");
}

TEST(LoadFileTest, DirectoryIsAnError) {
  auto loaded = LoadFile("/tmp");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().ToString(), "/tmp: cannot read: is a directory");
}

// --- Flags -----------------------------------------------------------------

TEST(FlagsTest, RegistersAFlagPerKeyWithItsDefault) {
  cxxopts::Options options("tswatchdog", "test");
  AddOptions(options);
  const std::string help = options.help();
  for (const std::string& key : kAllKeys) {
    std::string flag = key;
    for (char& c : flag) {
      if (c == '_') c = '-';
    }
    EXPECT_NE(help.find("--" + flag + " "), std::string::npos) << flag;
  }
  EXPECT_NE(help.find("--config FILE"), std::string::npos);
  EXPECT_NE(help.find("(default: 1m)"), std::string::npos) << help;
  EXPECT_NE(help.find("(default: rebind,start,reup,restart)"),
            std::string::npos)
      << help;
}

TEST(FlagsTest, EveryFlagSetsItsOption) {
  // clang-format off
  Flags flags({
      "--socket", "/tmp/tailscaled.sock",
      "--debounce", "2s",
      "--settle-max=1m30s",
      "--grace", "0s",
      "--verify", "250ms",
      "--unhealthy-after", "2m",
      "--start-timeout", "1h",
      "--probe-interval", "0s",
      "--kick-on-change=false",
      "--ladder", "start, rebind,conntrack,restart",
      "--restart-command",
          "/bin/sh -c '/etc/init.d/tailscale restart && logger ok'",
      "--max-disruptive-per-hour", "0",
      "--backoff-initial", "1s",
      "--backoff-max", "5m",
      "--restart-on-ip", "ssh.socket,nginx.service",
      "--hooks-dir", "/etc/tswatchdog/hooks.d",
      "--state-file", "/var/lib/tswatchdog/state.json",
      "--metrics-file", "/var/lib/node_exporter/tswatchdog.prom",
      "--metrics-interval", "15s",
      "--dry-run",
      "--log-level", "debug",
      "--log-style", "syslog",
      "--tailscale-interface", "ts0",
      "--mwan3-steering=false",
      "--mwan3-flow-cleanup=false",
  });
  // clang-format on
  auto applied = ApplyFlags(Config{}, flags.result());
  ASSERT_TRUE(applied.ok()) << ErrorText(applied);
  EXPECT_EQ(applied.value(), EveryFieldChanged());
}

TEST(FlagsTest, BooleansAsFlagsOrWithValues) {
  Config base;
  base.kick_on_change = false;
  {
    Flags flags({"--kick-on-change", "--dry-run=true"});
    auto applied = ApplyFlags(base, flags.result());
    ASSERT_TRUE(applied.ok()) << ErrorText(applied);
    EXPECT_TRUE(applied.value().kick_on_change);
    EXPECT_TRUE(applied.value().dry_run);
  }
  base.dry_run = true;
  {
    Flags flags({"--dry-run=false"});
    auto applied = ApplyFlags(base, flags.result());
    ASSERT_TRUE(applied.ok()) << ErrorText(applied);
    EXPECT_FALSE(applied.value().dry_run);
    EXPECT_FALSE(applied.value().kick_on_change);  // not given: unchanged
  }
}

TEST(FlagsTest, EmptyListFlagClearsTheList) {
  Config base;
  base.restart_on_ip = {"ssh.socket"};
  Flags flags({"--restart-on-ip="});
  auto applied = ApplyFlags(base, flags.result());
  ASSERT_TRUE(applied.ok()) << ErrorText(applied);
  EXPECT_TRUE(applied.value().restart_on_ip.empty());
}

TEST(FlagsTest, LastOccurrenceWins) {
  Flags flags({"--debounce", "1s", "--debounce", "3s"});
  auto applied = ApplyFlags(Config{}, flags.result());
  ASSERT_TRUE(applied.ok()) << ErrorText(applied);
  EXPECT_EQ(applied.value().debounce, seconds(3));
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  const struct {
    std::vector<std::string> args;
    const char* want;
  } cases[] = {
      {{"--debounce", "fast"},
       "--debounce: bad duration 'fast': expected a number with a unit; use "
       "h, m, s or ms, e.g. 250ms, 2s, 1m30s"},
      {{"--grace=5"},
       "--grace: bad duration '5': a number needs a unit (use h, m, s or ms, "
       "e.g. 250ms, 2s, 1m30s)"},
      {{"--ladder", "rebind,reboot"},
       "--ladder: unknown step 'reboot' (known: rebind, start, reup, restart, "
       "conntrack)"},
      {{"--ladder", "rebind,,start"},
       "--ladder: empty step in 'rebind,,start' (a list is written a,b,c)"},
      {{"--ladder="}, "--ladder: must name at least one step"},
      {{"--ladder", "start,start"},
       "--ladder: step 'start' appears more than once"},
      {{"--dry-run=maybe"}, "--dry-run: expected true or false, got 'maybe'"},
      {{"--max-disruptive-per-hour", "many"},
       "--max-disruptive-per-hour: expected a whole number, got 'many'"},
      {{"--max-disruptive-per-hour=-1"},
       "--max-disruptive-per-hour: must be 0 or more, got -1"},
      {{"--log-level", "loud"},
       "--log-level: unknown log level 'loud' (known: trace, debug, info, "
       "warn, error)"},
      {{"--restart-command="},
       "--restart-command: restart_command is empty but the ladder has the "
       "'restart' step; set a command or remove the step"},
      {{"--verify", "0s"}, "--verify: must be greater than 0"},
      {{"--restart-command", "sh -c \"x"},
       "--restart-command: unterminated \" quote in 'sh -c \"x'"},
      {{"--restart-command", "restart\\"},
       "--restart-command: 'restart\\' ends with a lone backslash"},
      {{"--log-style", "colour"},
       "--log-style: unknown log style 'colour' (known: auto, terminal, "
       "journal, plain, syslog)"},
      {{"--debounce", "2m"},
       "--debounce: debounce (2m) must not be longer than settle_max (1m)"},
      {{"--restart-on-ip", "ssh.socket,"},
       "--restart-on-ip: empty name in 'ssh.socket,' (a list is written "
       "a,b,c)"},
  };
  for (const auto& c : cases) {
    Flags flags(c.args);
    auto applied = ApplyFlags(Config{}, flags.result());
    ASSERT_FALSE(applied.ok()) << c.args[0];
    EXPECT_EQ(applied.error().ToString(), c.want);
    EXPECT_EQ(applied.error().file, "");
  }
}

// --- Load: file, then flags
// ---------------------------------------------------

TEST(LoadTest, FlagsOverrideTheFile) {
  TempFile file(
      "debounce = \"10s\"\ngrace = \"30s\"\nladder = [\"rebind\", "
      "\"restart\"]\n");
  Flags flags(
      {"--config", file.path(), "--debounce", "2s", "--ladder", "start"});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value().debounce, seconds(2));  // flag
  EXPECT_EQ(loaded.value().grace, seconds(30));    // file
  EXPECT_EQ(loaded.value().ladder,
            std::vector<LadderStep>{LadderStep::kStart});  // flag
  EXPECT_EQ(loaded.value().verify, seconds(15));           // default
}

TEST(LoadTest, AFlagCanFixWhatTheFileAloneBreaks) {
  TempFile file("debounce = \"2m\"\n");
  ASSERT_FALSE(LoadFile(file.path()).ok());
  Flags flags({"--config", file.path(), "--settle-max", "5m"});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value().debounce, minutes(2));
  EXPECT_EQ(loaded.value().settle_max, minutes(5));
}

TEST(LoadTest, ACrossFieldConflictBlamesTheFlag) {
  TempFile file("debounce = \"10s\"\n");
  Flags flags({"--config", file.path(), "--settle-max", "5s"});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().ToString(),
            "--settle-max: debounce (10s) must not be longer than settle_max "
            "(5s)");
}

TEST(LoadTest, AFlagThatBreaksARuleWithTheFileIsBlamed) {
  TempFile file("ladder = [\"rebind\"]\nrestart_command = []\n");
  Flags flags({"--config", file.path(), "--ladder", "rebind,restart"});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().ToString(),
            "--ladder: restart_command is empty but the ladder has the "
            "'restart' step; set a command or remove the step");
}

TEST(LoadTest, FileErrorsComeFirst) {
  TempFile file("\ngrace = 20\n");
  Flags flags({"--config", file.path(), "--grace", "20s"});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().file, file.path());
  EXPECT_EQ(loaded.error().line, 2);
  EXPECT_EQ(loaded.error().key, "grace");
}

TEST(LoadTest, NamedMissingFileIsAnError) {
  Flags flags({"--config", kNoSuchFile});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(
      loaded.error().ToString(),
      std::string(kNoSuchFile) + ": cannot open: No such file or directory");
}

TEST(LoadTest, EmptyConfigArgumentIsAnError) {
  Flags flags({"--config="});
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().ToString(), "--config: needs a file name");
}

TEST(LoadTest, WithoutConfigReadsTheDefaultPathIfItExists) {
  TempFile default_file("verify = \"3s\"\n");
  Flags flags({"--grace", "1s"});
  EXPECT_EQ(ConfigFileFor(flags.result(), default_file.path()),
            default_file.path());
  auto loaded = Load(flags.result(), default_file.path());
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value().verify, seconds(3));
  EXPECT_EQ(loaded.value().grace, seconds(1));
}

TEST(LoadTest, WithoutConfigOrDefaultFileUsesDefaults) {
  Flags flags({});
  EXPECT_EQ(ConfigFileFor(flags.result(), kNoSuchFile), "");
  auto loaded = Load(flags.result(), kNoSuchFile);
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value(), Config{});
}

TEST(LoadTest, ExplicitConfigWinsOverTheDefaultPath) {
  TempFile default_file("verify = \"3s\"\n");
  TempFile named("verify = \"4s\"\n");
  Flags flags({"--config", named.path()});
  EXPECT_EQ(ConfigFileFor(flags.result(), default_file.path()), named.path());
  auto loaded = Load(flags.result(), default_file.path());
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value().verify, seconds(4));
}

// --- ToToml (--print-config) ------------------------------------------------

// Each key is on its own line, right after a comment.
TEST(ToTomlTest, CommentsEveryKey) {
  const std::string toml = ToToml(Config{});
  std::istringstream lines(toml);
  std::vector<std::string> all;
  for (std::string line; std::getline(lines, line);) all.push_back(line);
  for (const std::string& key : kAllKeys) {
    bool found = false;
    for (size_t i = 1; i < all.size(); ++i) {
      if (all[i].rfind(key + " = ", 0) == 0) {
        found = true;
        EXPECT_EQ(all[i - 1].rfind("#", 0), 0u) << key;
      }
    }
    EXPECT_TRUE(found) << key << " missing from:\n" << toml;
  }
  EXPECT_NE(toml.find("debounce = \"5s\""), std::string::npos) << toml;
  EXPECT_NE(
      toml.find("ladder = [ \"rebind\", \"start\", \"reup\", \"restart\" ]"),
      std::string::npos)
      << toml;
}

TEST(ToTomlTest, DefaultsRoundTrip) {
  auto parsed = ParseToml(ToToml(Config{}), "print-config");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_EQ(parsed.value(), Config{});
}

TEST(ToTomlTest, EveryFieldRoundTrips) {
  Config config = EveryFieldChanged();
  // Values that are awkward to write: quotes, backslashes, newlines,
  // non-ASCII text, sub-second and mixed-unit durations, empty strings.
  config.socket = "/run/my \"odd\" path\\tailscaled.sock";
  config.debounce = milliseconds(1500);
  config.verify = milliseconds(1);
  config.unhealthy_after = hours(2) + seconds(5);
  config.restart_command = {"/bin/sh", "-c", "echo 'hi there' \"x\"\n"};
  config.restart_on_ip = {"ssh.socket", "sshd@x.service"};
  config.state_file = "";
  config.metrics_file = "/var/lib/prom/tswatchdog\xC3\xA9.prom";  // é
  ASSERT_TRUE(Validate(config).ok());

  const std::string toml = ToToml(config);
  auto parsed = ParseToml(toml, "print-config");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed) << "\n" << toml;
  EXPECT_EQ(parsed.value(), config) << toml;
}

TEST(ToTomlTest, EmptyRestartCommandWithoutRestartStepRoundTrips) {
  Config config;
  config.ladder = {LadderStep::kRebind};
  config.restart_command = {};
  auto parsed = ParseToml(ToToml(config), "print-config");
  ASSERT_TRUE(parsed.ok()) << ErrorText(parsed);
  EXPECT_EQ(parsed.value(), config);
}

// --- contrib/tswatchdog.toml -----------------------------------------------

// The example shows every key commented out at its default, sometimes
// followed by commented-out alternatives.
TEST(ExampleConfigTest, ParsesToTheDefaults) {
  auto loaded = LoadFile(TSWATCHDOG_EXAMPLE_CONFIG);
  ASSERT_TRUE(loaded.ok()) << ErrorText(loaded);
  EXPECT_EQ(loaded.value(), Config{});
}

TEST(ExampleConfigTest, DocumentsEveryDefaultCorrectly) {
  std::ifstream in(TSWATCHDOG_EXAMPLE_CONFIG);
  ASSERT_TRUE(in) << TSWATCHDOG_EXAMPLE_CONFIG;
  std::set<std::string> seen;
  std::string first_occurrences;
  for (std::string line; std::getline(in, line);) {
    size_t equals = line.find(" = ");
    if (line.rfind("# ", 0) != 0 || equals == std::string::npos) continue;
    std::string key = line.substr(2, equals - 2);
    if (std::find(kAllKeys.begin(), kAllKeys.end(), key) == kAllKeys.end()) {
      continue;
    }
    // Every example line is valid on its own.
    auto alone = ParseToml(line.substr(2), "example");
    EXPECT_TRUE(alone.ok()) << line << ": " << ErrorText(alone);
    if (seen.insert(key).second) first_occurrences += line.substr(2) + "\n";
  }
  EXPECT_EQ(seen.size(), kAllKeys.size());
  auto defaults = ParseToml(first_occurrences, "example");
  ASSERT_TRUE(defaults.ok()) << ErrorText(defaults);
  EXPECT_EQ(defaults.value(), Config{}) << first_occurrences;
}

// --- ConfigError::ToString
// ----------------------------------------------------

TEST(ConfigErrorTest, FormatsEachLocation) {
  ConfigError error;
  error.message = "m";
  EXPECT_EQ(error.ToString(), "m");
  error.key = "grace";
  EXPECT_EQ(error.ToString(), "key 'grace': m");
  error.flag = "--grace";
  EXPECT_EQ(error.ToString(), "--grace: m");
  error.flag = "";
  error.file = "f.toml";
  EXPECT_EQ(error.ToString(), "f.toml: key 'grace': m");
  error.line = 4;
  EXPECT_EQ(error.ToString(), "f.toml:4: key 'grace': m");
  error.column = 2;
  error.key = "";
  EXPECT_EQ(error.ToString(), "f.toml:4:2: m");
}

TEST(ValidateTest, NamesTheKeyWithoutALocation) {
  Config config;
  config.backoff_initial = hours(1);
  auto valid = Validate(config);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().ToString(),
            "key 'backoff_initial': backoff_initial (1h) must not be longer "
            "than backoff_max (10m)");
  config = Config{};
  config.debounce = milliseconds(-1);
  valid = Validate(config);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().ToString(), "key 'debounce': must not be negative");
}

}  // namespace
}  // namespace config
