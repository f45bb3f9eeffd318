// tailscaled seen from the kernel's side, as a port (issue 12): its TCP
// sockets over NETLINK_SOCK_DIAG (netlink/sock_diag.h) and its process (the
// pid at the other end of the LocalAPI socket, its state in /proc). Nothing
// is sent to the network, and nothing to tailscaled: the LocalAPI
// connection that tells the pid is closed before tailscaled accepts it.
// The executor tests fake it.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_CONNECTION_SOURCE_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_CONNECTION_SOURCE_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "netlink/sock_diag.h"
#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"

namespace watchdog {

class ConnectionSource {
 public:
  virtual ~ConnectionSource() = default;
  // tailscaled's TCP client sockets: those carrying its mark, both
  // families (the mark filter runs in the kernel where it can).
  virtual netlink::SockDump MarkedTcp() = 0;
  // The TCP client sockets of process `pid` (its /proc/PID/fd socket
  // inodes matched against a dump of every TCP client socket): the
  // fallback when its sockets carry no mark (userspace networking,
  // TS_FORCE_LINUX_BIND_TO_DEVICE). `error`/`detail` say what failed.
  virtual netlink::SockDump TcpOfProcess(pid_t pid) = 0;
  // The pid of the process listening on the LocalAPI socket (SO_PEERCRED
  // of a connection opened and closed at once), or why it cannot be had.
  virtual Expected<pid_t, SystemError> LocalApiPeer(
      const std::string& socket_path) = 0;
  // The state letter of /proc/PID/stat: 'R', 'S', 'D', 'T' (stopped,
  // SIGSTOP), 't' (stopped by a tracer), 'Z'; 0 when the process is gone.
  virtual char ProcessState(pid_t pid) = 0;
};

// The real one. The sock_diag socket is opened at the first dump (an error
// then is the dump's error, retried at the next one).
class KernelConnectionSource final : public ConnectionSource {
 public:
  KernelConnectionSource();
  ~KernelConnectionSource() override;

  netlink::SockDump MarkedTcp() override;
  netlink::SockDump TcpOfProcess(pid_t pid) override;
  Expected<pid_t, SystemError> LocalApiPeer(
      const std::string& socket_path) override;
  char ProcessState(pid_t pid) override;

 private:
  netlink::SockDump Dump(bool marked);

  std::unique_ptr<netlink::SockDiag> diag_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_CONNECTION_SOURCE_H_
