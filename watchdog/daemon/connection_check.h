// One look at tailscaled's connections (issue 12 item 1): its TCP sockets
// from the kernel (ConnectionSource), told control from DERP by the DERP map,
// each judged from its tcp_info, its local address and the route its remote
// would take now (core/connection_verdict.h), and marked when it was dialed
// after the last uplink change. Reports evidence; decides nothing.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_CONNECTION_CHECK_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_CONNECTION_CHECK_H_

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "watchdog/core/connection_verdict.h"
#include "watchdog/core/connections.h"
#include "watchdog/core/diagnosis.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/uplink_source.h"

namespace watchdog {

struct CheckReport {
  Evidence evidence;  // findings empty: the daemon adds the components'
  // Why the evidence is unknown (the netlink error, a truncated dump, the
  // /proc fallback's error), or "".
  std::string problem;
  bool fallback = false;  // the sockets came from /proc/PID/fd
  size_t sockets = 0;     // TCP sockets of tailscaled's found
};

class ConnectionCheck {
 public:
  ConnectionCheck(ConnectionSource& source, UplinkSource& uplink,
                  VerdictThresholds thresholds)
      : source_(source), uplink_(uplink), thresholds_(thresholds) {}

  void SetThresholds(VerdictThresholds thresholds) { thresholds_ = thresholds; }
  void SetDerpServers(std::vector<DerpServer> servers) {
    derp_ = std::move(servers);
  }
  // tailscaled's pid, for the /proc fallback (0: unknown, no fallback).
  void SetPid(pid_t pid) { pid_ = pid; }

  // An uplink change begins: the connections there now predate it; those
  // found later were dialed since (JudgedConnection::new_since_change).
  void MarkChange();

  CheckReport Run();

 private:
  // The dump, with the fallback when nothing carries the mark.
  netlink::SockDump Dump(bool* fallback);
  JudgedConnection Judge(const ClassifiedConnection& connection);

  ConnectionSource& source_;
  UplinkSource& uplink_;
  VerdictThresholds thresholds_;
  std::vector<DerpServer> derp_;
  pid_t pid_ = 0;
  std::optional<std::set<uint64_t>> at_change_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_CONNECTION_CHECK_H_
