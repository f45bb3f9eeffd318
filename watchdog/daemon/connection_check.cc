#include "watchdog/daemon/connection_check.h"

#include <cstring>

namespace watchdog {

void ConnectionCheck::MarkChange() {
  bool fallback = false;
  netlink::SockDump dump = Dump(&fallback);
  std::set<uint64_t> cookies;
  for (const netlink::SocketRecord& socket : dump.sockets) {
    cookies.insert(socket.cookie);
  }
  // A failed dump leaves no baseline: nothing is called new then.
  if (dump.error == 0) {
    at_change_ = std::move(cookies);
  } else {
    at_change_.reset();
  }
}

netlink::SockDump ConnectionCheck::Dump(bool* fallback) {
  netlink::SockDump dump = source_.MarkedTcp();
  *fallback = false;
  if (dump.error == 0 && dump.sockets.empty() && pid_ > 0) {
    *fallback = true;
    return source_.TcpOfProcess(pid_);
  }
  return dump;
}

JudgedConnection ConnectionCheck::Judge(const ClassifiedConnection& c) {
  // The route now matters for control and DERP only (one RTM_GETROUTE each).
  std::optional<netlink::Egress> route;
  const bool established = c.socket.state == netlink::kTcpEstablished;
  if (c.kind != ConnectionKind::kOther && established) {
    route = uplink_.RouteTo(c.socket.remote.address);
  }
  const netlink::Model* model = uplink_.kernel();
  ConnectionFacts facts = model ? FactsFromModel(c, *model, route)
                                : ConnectionFacts{c, true, "", route};
  facts.predates_uplink_change =
      at_change_.has_value() && at_change_->count(c.socket.cookie) > 0;
  const ConnectionVerdict verdict = JudgeConnection(facts, thresholds_);
  JudgedConnection judged;
  judged.kind = c.kind;
  judged.verdict = verdict.verdict;
  judged.evidence = verdict.evidence;
  judged.new_since_change =
      at_change_.has_value() && at_change_->count(c.socket.cookie) == 0;
  judged.local = c.socket.local;
  judged.remote = c.socket.remote;
  judged.cookie = c.socket.cookie;
  return judged;
}

CheckReport ConnectionCheck::Run() {
  CheckReport report;
  netlink::SockDump dump = Dump(&report.fallback);
  if (dump.error != 0) {
    report.problem = dump.detail.empty() ? std::string("socket dump: ") +
                                               std::strerror(dump.error)
                                         : dump.detail;
    return report;
  }
  if (dump.truncated) {
    report.problem = "socket dump truncated after " +
                     std::to_string(dump.sockets.size()) +
                     " of tailscaled's sockets";
    return report;
  }
  report.sockets = dump.sockets.size();
  report.evidence.known = true;
  for (const ClassifiedConnection& c :
       ClassifyConnections(dump.sockets, derp_)) {
    report.evidence.connections.push_back(Judge(c));
  }
  return report;
}

}  // namespace watchdog
