// What the kernel says about tailscaled's control and DERP connections, in
// the words tswatchdog's diagnosis uses (watchdog/core/connection_verdict.h):
// a sock_diag dump of the sockets carrying tailscaled's mark with their
// tcp_info, each judged with the route its remote takes now (RTM_GETROUTE
// with the mark). Read in the router's namespace; nothing is sent.
#ifndef TSWATCHDOG_TESTS_DEMO_EVIDENCE_H_
#define TSWATCHDOG_TESTS_DEMO_EVIDENCE_H_

#include <string>
#include <vector>

#include "netlink/sock_diag.h"
#include "netlink/watcher.h"
#include "watchdog/core/connection_verdict.h"
#include "watchdog/core/connections.h"

namespace demo {

struct Evidence {
  // The control connection first, then DERP.
  std::vector<watchdog::ConnectionVerdict> verdicts;
  // "192.0.2.100: dev wan0 via 198.51.100.1 src 198.51.100.2 ...", per
  // remote of a judged connection.
  std::vector<std::string> routes;
  std::string error;  // a failed dump, with its errno text
};

class EvidenceReader {
 public:
  // `scale`: the lab's time scale; the verdict thresholds are scaled alike.
  explicit EvidenceReader(double scale);
  Evidence Read();

 private:
  netlink::Watcher watcher_;
  netlink::SockDiag diag_;
  watchdog::VerdictThresholds thresholds_;
  std::vector<watchdog::DerpServer> derp_;
};

}  // namespace demo

#endif  // TSWATCHDOG_TESTS_DEMO_EVIDENCE_H_
