// `tswatchdog run`: the daemon, in the foreground (systemd and procd
// supervise it; it never forks).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <system_error>

#include "config/flags.h"
#include "watchdog/cli/commands.h"
#include "watchdog/daemon/logging.h"
#include "watchdog/daemon/run.h"

namespace watchdog {

int RunDaemonCommand(int argc, char** argv) {
  // Kept alive for the SIGHUP reload, which re-reads the file under the
  // same flags.
  static cxxopts::Options options(
      "tswatchdog run",
      "Keep tailscaled healthy through uplink changes. Runs in the "
      "foreground; every option is also a config-file key.");
  config::AddOptions(options);
  options.add_options()("debug", "log every parsed change and every decision")(
      "print-config", "print the effective config as TOML and exit")(
      "h,help", "show this help");
  static cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "tswatchdog run: %s\n", e.what());
    return 2;
  }
  if (args.count("help")) {
    std::cout << options.help() << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::fprintf(stderr,
                 "tswatchdog run: unexpected argument '%s' (booleans take "
                 "--flag=false, not --flag false)\n",
                 args.unmatched().front().c_str());
    return 2;
  }
  config::Result<config::Config> loaded = config::Load(args);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tswatchdog: %s\n", loaded.error().ToString().c_str());
    return 2;
  }
  const config::Config& config = loaded.value();
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
  daemon_options.reload = [] { return config::Load(args); };
  try {
    return RunDaemon(config, std::move(daemon_options));
  } catch (const std::system_error& e) {
    spdlog::critical("cannot run: {}", e.what());
    return 1;
  }
}

}  // namespace watchdog
