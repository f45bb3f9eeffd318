// Is one of tailscaled's TCP connections alive? A pure verdict from what the
// kernel says about the socket (struct tcp_info, its state and addresses) and
// about the host (is the socket's local address still here, which way would a
// packet to its remote leave now), with the evidence in words:
//
//   control 198.51.100.2:41234 -> 192.0.2.10:80: 2 keep-alive probes
//   unanswered, last data 71 s ago
//
// It sends nothing. The thresholds follow tailscaled's own timers, so that a
// healthy idle connection is never suspect:
// - tailscaled's dialer enables TCP keep-alive at 30 s (net/netns/netns.go:
//   netknob.PlatformTCPKeepAlive): after 30 s without a received segment the
//   kernel sends a probe, and an answer resets tcpi_probes to 0 within one
//   round trip. Two unanswered probes mean at least one full probe interval
//   of silence from a peer that answers every probe when it is reachable.
//   One probe is a sign only once the last ACK is older than the idle time
//   plus `answer_grace`: a probe in flight on a healthy connection has its
//   last ACK one probe interval ago, and Go's interval (15 s since Go 1.23,
//   30 s before) is never longer than tailscaled's 30 s idle time.
// - The control server sends a map keep-alive about every minute (the test
//   control server: 50 s + up to 8 s of jitter); a DERP server one every
//   60 s + up to 5 s (failure-modes: derp keep-alive). Silence beyond
//   `data_silence` (80 s) is suspect; tailscaled's own watchdogs wait 120 s
//   (control/controlclient/direct.go, derp/derp_client.go).
// - Retransmissions: tcpi_retransmits counts RTO timeouts of the oldest
//   unacknowledged segment in a row; each timeout doubles the RTO (200 ms at
//   least), so 3 in a row is >= 1.4 s with no ACK at all. After a soft kick
//   makes tailscaled write on its connections, a dead path shows here within
//   seconds. On a connection that predates the last uplink change one RTO
//   timeout is enough: the path under it changed, and its data went
//   unanswered for a whole RTO (srtt + 4 rttvar) since. This matters when
//   the RTO is long (a slow handshake inflates srtt): three in a row then
//   take RTO x 7, 20 s for an RTO of 2.9 s.
#ifndef TSWATCHDOG_WATCHDOG_CORE_CONNECTION_VERDICT_H_
#define TSWATCHDOG_WATCHDOG_CORE_CONNECTION_VERDICT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "netlink/address.h"
#include "netlink/egress.h"
#include "netlink/model.h"
#include "netlink/sock_diag.h"
#include "watchdog/core/connections.h"

namespace watchdog {

enum class Verdict { kUnknown, kLive, kSuspect, kDead };
const char* VerdictName(Verdict verdict);  // "unknown", "live", ...

struct VerdictThresholds {
  std::chrono::milliseconds keepalive_idle{30000};
  // How long an answer may take to come back (a round trip on a slow
  // uplink): a probe or retransmission younger than this is not yet a sign.
  std::chrono::milliseconds answer_grace{5000};
  std::chrono::milliseconds data_silence{80000};  // control and DERP
  uint8_t dead_probes = 2;
  uint8_t dead_retransmits = 3;

  // The same thresholds at 1/divisor of the time (lab tests run tailscaled's
  // timers scaled down).
  VerdictThresholds ScaledDown(int divisor) const;
};

struct ConnectionFacts {
  ClassifiedConnection connection;
  // Whether the socket's local address is still on the host, and the device
  // that carries it ("" when unknown).
  bool local_address_present = true;
  std::string local_dev;
  // The way a packet to the socket's remote would leave now: RTM_GETROUTE
  // with tailscaled's mark (netlink::Watcher::RouteTo). nullopt: not known.
  std::optional<netlink::Egress> route_now;
  // It was open when the last uplink change began (the path under it may
  // have changed: a new next hop, a NAT that forgot it).
  bool predates_uplink_change = false;
};

struct ConnectionVerdict {
  Verdict verdict = Verdict::kUnknown;
  ConnectionKind kind = ConnectionKind::kOther;
  std::string evidence;  // "control A -> B: what was seen"
};

// The facts about `connection` that the host's model knows: whether its local
// address is still on a link, and which; plus the route to its remote now
// (netlink::Watcher::RouteTo), if looked up.
ConnectionFacts FactsFromModel(const ClassifiedConnection& connection,
                               const netlink::Model& model,
                               std::optional<netlink::Egress> route_now);

ConnectionVerdict JudgeConnection(const ConnectionFacts& facts,
                                  const VerdictThresholds& thresholds);

// "control 198.51.100.2:41234 -> 192.0.2.10:80" ("DERP 1a ..." for DERP).
std::string DescribeConnection(const ClassifiedConnection& connection);

// "71 s", "1.5 s", "250 ms".
std::string FormatMillis(uint64_t ms);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_CONNECTION_VERDICT_H_
