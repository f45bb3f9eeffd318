#include "watchdog/daemon/mwan3_flows.h"

#include <cstring>
#include <system_error>

#include "netlink/conntrack.h"
#include "netlink/sock_diag.h"

namespace watchdog {
namespace {

// tailscaled's TCP client connections (in `states`) and, with `udp`, its
// UDP sockets, by its mark.
bool DumpTailscaledSockets(bool udp, uint32_t states,
                           std::vector<netlink::SocketRecord>* sockets,
                           std::string* error) {
  std::unique_ptr<netlink::NetlinkChannel> channel;
  try {
    channel = netlink::OpenSockDiagChannel(netlink::kSockDiagDumpTimeout);
  } catch (const std::system_error& e) {
    *error = std::string("sock_diag: ") + e.what();
    return false;
  }
  netlink::SockDiag diag(std::move(channel));
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
      *error = "sock_diag: " + dump.detail + ": " + std::strerror(dump.error);
      return false;
    }
    sockets->insert(sockets->end(), dump.sockets.begin(), dump.sockets.end());
  }
  return true;
}

}  // namespace

FlowCleanupReport CleanTailscaledFlows(const FlowCleanupOrder& order,
                                       bool dry_run) {
  FlowCleanupReport report;
  report.order = order;
  report.dry_run = dry_run;
  std::vector<netlink::SocketRecord> sockets;
  if (!DumpTailscaledSockets(true, netlink::ClientTcpStates(), &sockets,
                             &report.error)) {
    return report;
  }
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
      }
    }
    report.tcp_on_dead_wan.push_back(moved);
  }
  return report;
}

std::optional<std::vector<MovedConnection>> EstablishedTailscaledTcp() {
  std::vector<netlink::SocketRecord> sockets;
  std::string error;
  if (!DumpTailscaledSockets(false, 1u << netlink::kTcpEstablished, &sockets,
                             &error)) {
    return std::nullopt;
  }
  std::vector<MovedConnection> out;
  for (const netlink::SocketRecord& s : sockets) {
    out.push_back({s.local, s.remote});
  }
  return out;
}

}  // namespace watchdog
