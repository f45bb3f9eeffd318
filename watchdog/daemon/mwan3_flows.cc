#include "watchdog/daemon/mwan3_flows.h"

#include <system_error>

#include "netlink/conntrack.h"
#include "netlink/sock_diag.h"
#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"

namespace watchdog {
namespace {

// tailscaled's TCP client connections (in `states`) and, with `udp`, its
// UDP sockets, by its mark.
Expected<std::vector<netlink::SocketRecord>, SystemError> DumpTailscaledSockets(
    bool udp, uint32_t states) {
  std::unique_ptr<netlink::NetlinkChannel> channel;
  try {
    channel = netlink::OpenSockDiagChannel(netlink::kSockDiagDumpTimeout);
  } catch (const std::system_error& e) {
    return SystemError::From(e, "sock_diag: ");
  }
  netlink::SockDiag diag(std::move(channel));
  std::vector<netlink::SocketRecord> sockets;
  for (uint8_t protocol : {netlink::kIpProtocolUdp, netlink::kIpProtocolTcp}) {
    if (protocol == netlink::kIpProtocolUdp && !udp) continue;
    netlink::SockDiagQuery query;
    query.protocol = protocol;
    query.states =
        protocol == netlink::kIpProtocolTcp ? states : netlink::kAllStates;
    query.mark = netlink::TailscaleMark();
    query.tcp_info = false;
    netlink::SockDump dump = diag.DumpBothFamilies(query);
    if (dump.error != 0) {
      return SystemError::FromErrno(dump.error, "sock_diag: " + dump.detail);
    }
    sockets.insert(sockets.end(), dump.sockets.begin(), dump.sockets.end());
  }
  return sockets;
}

}  // namespace

FlowCleanupReport CleanTailscaledFlows(const FlowCleanupOrder& order,
                                       bool dry_run) {
  FlowCleanupReport report;
  report.order = order;
  report.dry_run = dry_run;
  auto dumped = DumpTailscaledSockets(true, netlink::ClientTcpStates());
  if (!dumped) {
    report.error = dumped.error().ToString();
    return report;
  }
  const std::vector<netlink::SocketRecord>& sockets = *dumped;
  report.sockets = sockets.size();
  const std::vector<netlink::FlowSelector> flows =
      netlink::FlowsOfSockets(sockets);
  netlink::ConntrackOptions options;
  options.dry_run = dry_run;
  const netlink::ConntrackResult result =
      netlink::DeleteConntrackFlows(flows, {order.mark, order.mask}, options);
  if (!result.error.empty()) {
    report.error = result.error;
    return report;
  }
  report.matched = result.total_matched();
  report.deleted = result.total_deleted();
  if (result.failed > 0) report.error = result.failure;
  const std::vector<ClassifiedConnection> kinds =
      ClassifyConnections(sockets, {});
  std::vector<MovedConnection> matched;
  for (size_t i = 0; i < flows.size() && i < result.matched.size(); ++i) {
    const netlink::FlowSelector& flow = flows[i];
    if (flow.protocol != netlink::kIpProtocolTcp || result.matched[i] == 0 ||
        !flow.local_address || !flow.remote_address) {
      continue;
    }
    MovedConnection moved{{*flow.local_address, flow.local_port},
                          {*flow.remote_address, flow.remote_port}};
    for (const ClassifiedConnection& c : kinds) {
      if (c.socket.local == moved.local && c.socket.remote == moved.remote) {
        moved.kind = c.kind;
        moved.established = c.socket.state == netlink::kTcpEstablished;
      }
    }
    matched.push_back(moved);
  }
  report.tcp_on_dead_wan = DeadAfterCleanup(matched);
  return report;
}

std::optional<std::vector<MovedConnection>> EstablishedTailscaledTcp() {
  auto sockets = DumpTailscaledSockets(false, 1u << netlink::kTcpEstablished);
  if (!sockets) return std::nullopt;
  std::vector<MovedConnection> out;
  for (const netlink::SocketRecord& s : *sockets) {
    out.push_back({s.local, s.remote});
  }
  return out;
}

}  // namespace watchdog
