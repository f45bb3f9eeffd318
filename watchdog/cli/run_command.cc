// `tswatchdog run`: the daemon, in the foreground (systemd and procd
// supervise it; it never forks).
#include <spdlog/spdlog.h>

#include <cxxopts.hpp>
#include <iostream>
#include <system_error>

#include "config/flags.h"
#include "watchdog/cli/commands.h"
#include "watchdog/daemon/logging.h"
#include "watchdog/daemon/run.h"
#include "watchdog/daemon/state_file.h"

namespace watchdog {
namespace {

// The config, and then the files it names for the daemon to replace: a
// state_file or metrics_file that is a directory, a symlink, someone
// else's file or in a directory others can write is refused here, at start
// and on SIGHUP, like any other bad value.
config::Result<config::Config> LoadForRun(const cxxopts::ParseResult& args) {
  config::Result<config::Config> loaded = config::Load(args);
  if (!loaded.ok()) return loaded;
  const struct {
    const char* key;
    const std::string& path;
    bool (*is_ours)(const std::string&);
  } outputs[] = {
      {"state_file", loaded.value().state_file, &LooksLikeStateFile},
      {"metrics_file", loaded.value().metrics_file, &LooksLikeMetricsFile},
  };
  for (const auto& output : outputs) {
    if (output.path.empty()) continue;
    if (auto checked = CheckOutputPath(output.path, output.is_ours); !checked) {
      config::ConfigError error;
      error.key = output.key;
      error.message = checked.error().ToString();
      return error;
    }
  }
  return loaded;
}

}  // namespace

namespace {

// `run`'s options: every config key, and the command's own. Kept alive for
// the SIGHUP reload, which re-reads the file under the same flags.
cxxopts::Options& RunOptions() {
  static cxxopts::Options options(
      "tswatchdog run",
      "Keep tailscaled healthy through uplink changes. Runs in the "
      "foreground; every option is also a config-file key.");
  config::AddOptions(options);
  options.add_options()("debug", "log every parsed change and every decision")(
      "print-config", "print the effective config as TOML and exit")(
      "check-config",
      "check the config (file and flags) and exit: 0 valid, 2 not (the "
      "systemd unit's ExecReload= runs it before SIGHUP)")("h,help",
                                                           "show this help");
  return options;
}

}  // namespace

int RunDaemonCommand(int argc, char** argv) {
  cxxopts::Options& options = RunOptions();
  static cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    PrintStartupError(std::string("tswatchdog run: ") + e.what());
    return 2;
  }
  if (args.count("help")) {
    std::cout << options.help() << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) {
    PrintStartupError("tswatchdog run: unexpected argument '" +
                      args.unmatched().front() +
                      "' (booleans take --flag=false, not --flag false)");
    return 2;
  }
  // As at a start, also for --print-config (OpenWrt's init script checks).
  config::Result<config::Config> loaded = LoadForRun(args);
  if (!loaded.ok()) {
    PrintStartupError("tswatchdog: " + loaded.error().ToString());
    return 2;
  }
  const config::Config& config = loaded.value();
  if (args.count("check-config")) return 0;
  if (args.count("print-config")) {
    std::cout << config::ToToml(config);
    return 0;
  }
  const bool debug = args.count("debug") > 0;
  // Validation has accepted the name, so this has a value.
  const LogStyle style =
      LogStyleFromConfig(config.log_style).value_or(LogStyle::kPlain);
  SetupLogging(style,
               debug ? spdlog::level::debug : SpdlogLevel(config.log_level));
  spdlog::debug("log style {}; config {}", LogStyleName(style),
                config::ConfigFileFor(args));

  DaemonOptions daemon_options;
  daemon_options.debug = debug;
  daemon_options.reload = [] { return LoadForRun(args); };
  try {
    return RunDaemon(config, std::move(daemon_options));
  } catch (const std::system_error& e) {
    spdlog::critical("cannot run: {}", e.what());
    return 1;
  }
}

}  // namespace watchdog
