// `tswatchdog run`'s process: builds the real ports (the event loop, the
// netlink watcher, the LocalAPI client, child processes, the conntrack
// table, the state and metrics files, systemd's notify socket), the Daemon
// over them, and runs the loop until SIGTERM/SIGINT. Signals arrive through
// a signalfd: SIGHUP reloads the config, SIGUSR1 is an uplink hint.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_RUN_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_RUN_H_

#include <chrono>
#include <functional>

#include "config/config.h"
#include "config/result.h"

namespace watchdog {

struct DaemonOptions {
  // Re-reads the configuration (file + the original flags) on SIGHUP.
  std::function<config::Result<config::Config>()> reload;
  bool debug = false;  // --debug: every parsed change and every decision
  // How long restart_command and hooks may run before they are killed.
  std::chrono::milliseconds restart_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds hook_timeout{std::chrono::seconds(30)};
};

// Runs until SIGTERM/SIGINT and returns the exit status. Throws
// std::system_error when netlink or the loop cannot be set up.
int RunDaemon(const config::Config& config, DaemonOptions options);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_RUN_H_
