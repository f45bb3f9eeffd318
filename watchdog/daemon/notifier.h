// systemd's notify protocol (sd_notify(3)), written by hand: one datagram of
// "KEY=VALUE" lines to $NOTIFY_SOCKET. The protocol is declared stable and
// re-implementable (systemd's notify-selfcontained-example.c); it saves a
// libsystemd dependency that the OpenWrt build could not have. Every call is
// a no-op when the daemon is not run by systemd.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_NOTIFIER_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_NOTIFIER_H_

#include <chrono>
#include <optional>
#include <string>

#include "netlink/unique_fd.h"
#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"

namespace watchdog {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET ("/path" or "@abstract") and $WATCHDOG_USEC /
  // $WATCHDOG_PID.
  static SystemdNotifier FromEnvironment();

  bool enabled() const { return !socket_path_.empty(); }
  // Half of WatchdogSec= (sd_watchdog_enabled(3)): how often to ping.
  std::optional<std::chrono::milliseconds> watchdog_interval() const {
    return watchdog_interval_;
  }

  // Sends `assignments` ("READY=1\nSTATUS=..."), or says why it could not
  // (logged by the caller; never fatal).
  Expected<void, SystemError> Notify(const std::string& assignments);

 private:
  std::string socket_path_;  // '@' first for the abstract namespace
  std::optional<std::chrono::milliseconds> watchdog_interval_;
  netlink::UniqueFd fd_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_NOTIFIER_H_
