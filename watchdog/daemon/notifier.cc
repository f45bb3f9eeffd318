#include "watchdog/daemon/notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace watchdog {

SystemdNotifier SystemdNotifier::FromEnvironment() {
  SystemdNotifier notifier;
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path != nullptr && (path[0] == '/' || path[0] == '@') &&
      std::strlen(path) < sizeof(sockaddr_un::sun_path)) {
    notifier.socket_path_ = path;
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  // WATCHDOG_PID, when set, names the process the watchdog is meant for.
  const bool for_us = pid == nullptr || std::atol(pid) == getpid();
  if (usec != nullptr && for_us && notifier.enabled()) {
    const long long value = std::atoll(usec);
    if (value > 0) {
      notifier.watchdog_interval_ =
          std::chrono::milliseconds(std::max<long long>(value / 2000, 1));
    }
  }
  return notifier;
}

Expected<void, SystemError> SystemdNotifier::Notify(
    const std::string& assignments) {
  if (!enabled()) return {};
  if (!fd_) {
    fd_.Reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_) return SystemError::FromErrno("notify socket");
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                         socket_path_.size());
  if (socket_path_[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract names are length-delimited
  } else {
    len += 1;  // the terminating NUL of a path
  }
  // Never wait: a receiver that does not read (a busy PID 1, a test) must not
  // stall our loop; a dropped STATUS or ping is the lesser harm.
  if (sendto(fd_.get(), assignments.data(), assignments.size(),
             MSG_NOSIGNAL | MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&addr), len) < 0) {
    return SystemError::FromErrno("notify " + socket_path_);
  }
  return {};
}

}  // namespace watchdog
