#include "tests/demo/evidence.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "netlink/uplink.h"
#include "tests/lab/world.h"

namespace demo {

namespace {

watchdog::VerdictThresholds Thresholds(double scale) {
  const watchdog::VerdictThresholds real;
  if (scale >= 1.0) return real;
  return real.ScaledDown(static_cast<int>(std::lround(1.0 / scale)));
}

// The world's DERP server (tests/lab/world.h), as `GET derpmap` names it.
std::vector<watchdog::DerpServer> WorldDerp() {
  watchdog::DerpServer derp;
  derp.name = "1a";
  derp.region_id = 1;
  derp.ipv4 = netlink::IpAddress::Parse(lab::kDerpIp);
  derp.port = lab::kDerpPort;
  return {derp};
}

}  // namespace

EvidenceReader::EvidenceReader(double scale)
    : diag_(netlink::OpenSockDiagChannel(std::chrono::seconds(1))),
      thresholds_(Thresholds(scale)),
      derp_(WorldDerp()) {}

Evidence EvidenceReader::Read() {
  Evidence out;
  netlink::SockDiagQuery query;
  query.protocol = netlink::kIpProtocolTcp;
  query.states = netlink::ClientTcpStates();
  query.mark = netlink::TailscaleMark();
  const netlink::SockDump dump = diag_.DumpBothFamilies(query);
  if (dump.error != 0) out.error = dump.detail;
  watcher_.Resync("demo evidence");
  auto connections = watchdog::ClassifyConnections(dump.sockets, derp_);
  std::stable_sort(
      connections.begin(), connections.end(),
      [](const auto& a, const auto& b) { return a.kind < b.kind; });
  for (const auto& c : connections) {
    if (c.kind == watchdog::ConnectionKind::kOther) continue;
    const auto route = watcher_.RouteTo(c.socket.remote.address);
    out.verdicts.push_back(watchdog::JudgeConnection(
        watchdog::FactsFromModel(c, watcher_.model(), route), thresholds_));
    if (!route) continue;
    std::string text = c.socket.remote.address.ToString() + ": " +
                       netlink::DescribeEgress(*route);
    if (std::find(out.routes.begin(), out.routes.end(), text) ==
        out.routes.end()) {
      out.routes.push_back(std::move(text));
    }
  }
  return out;
}

}  // namespace demo
