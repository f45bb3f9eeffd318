#include "watchdog/core/connection_verdict.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace watchdog {
namespace {

using std::chrono::milliseconds;

const char* TcpStateName(uint8_t state) {
  switch (state) {
    case netlink::kTcpEstablished:
      return "established";
    case netlink::kTcpSynSent:
      return "syn-sent";
    case netlink::kTcpSynRecv:
      return "syn-recv";
    case netlink::kTcpFinWait1:
      return "fin-wait-1";
    case netlink::kTcpFinWait2:
      return "fin-wait-2";
    case netlink::kTcpTimeWait:
      return "time-wait";
    case netlink::kTcpClose:
      return "close";
    case netlink::kTcpCloseWait:
      return "close-wait";
    case netlink::kTcpLastAck:
      return "last-ack";
    case netlink::kTcpListen:
      return "listen";
    case netlink::kTcpClosing:
      return "closing";
  }
  return "state ?";
}

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The signs read from one socket, each with the verdict it supports.
class Signs {
 public:
  void Add(Verdict verdict, std::string text) {
    verdict_ = std::max(verdict_, verdict);
    texts_.push_back(std::move(text));
  }
  bool empty() const { return texts_.empty(); }
  Verdict verdict() const { return verdict_; }
  std::string Joined() const {
    std::string out;
    for (const std::string& text : texts_) {
      if (!out.empty()) out += ", ";
      out += text;
    }
    return out;
  }

 private:
  Verdict verdict_ = Verdict::kLive;
  std::vector<std::string> texts_;
};

void ReadTcpInfo(const netlink::TcpInfo& info, ConnectionKind kind,
                 bool predates_change, const VerdictThresholds& t,
                 Signs* signs) {
  const milliseconds last_ack(info.last_ack_recv_ms);
  if (info.probes >= t.dead_probes) {
    signs->Add(Verdict::kDead,
               Plural(info.probes, "keep-alive probe", "keep-alive probes") +
                   " unanswered");
  } else if (info.probes > 0 && last_ack >= t.keepalive_idle + t.answer_grace) {
    signs->Add(Verdict::kSuspect, "a keep-alive probe unanswered, last ACK " +
                                      FormatMillis(info.last_ack_recv_ms) +
                                      " ago");
  }
  if (info.unacked > 0 && info.retransmits >= t.dead_retransmits) {
    signs->Add(Verdict::kDead,
               Plural(info.retransmits, "retransmission", "retransmissions") +
                   " unanswered, last ACK " +
                   FormatMillis(info.last_ack_recv_ms) + " ago");
  } else if (info.unacked > 0 && info.retransmits > 0 && predates_change) {
    signs->Add(Verdict::kDead,
               Plural(info.retransmits, "retransmission", "retransmissions") +
                   " unanswered since the uplink changed under it");
  } else if (info.unacked > 0 && info.retransmits > 0) {
    signs->Add(Verdict::kSuspect,
               Plural(info.retransmits, "retransmission", "retransmissions") +
                   " unanswered");
  }
  if (kind != ConnectionKind::kOther &&
      milliseconds(info.last_data_recv_ms) >= t.data_silence) {
    signs->Add(Verdict::kSuspect,
               "no data for " + FormatMillis(info.last_data_recv_ms) +
                   " (its server sends some about every minute)");
  }
}

// The route to the remote now: unreachable, or another way out than the
// socket's. On its own only suspect (a NAT may still carry the flow);
// together with any other sign, the connection is dead.
void ReadRoute(const ConnectionFacts& facts, Signs* signs) {
  if (!facts.route_now) return;
  const netlink::Egress& route = *facts.route_now;
  const netlink::SocketEndpoint& local = facts.connection.socket.local;
  const std::string remote = facts.connection.socket.remote.address.ToString();
  std::string text;
  if (!route.present) {
    text = "no route to " + remote + " now";
    if (route.lookup_error != 0) {
      text += std::string(" (") + std::strerror(route.lookup_error) + ")";
    }
  } else if (!route.dev.empty() && !facts.local_dev.empty() &&
             route.dev != facts.local_dev) {
    text = "the route to " + remote + " now leaves by " + route.dev +
           ", not by the socket's " + facts.local_dev;
  } else if (route.source && *route.source != local.address) {
    text = "the route to " + remote + " now uses source " +
           route.source->ToString() + ", not the socket's " +
           local.address.ToString();
  }
  if (text.empty()) return;
  signs->Add(signs->empty() ? Verdict::kSuspect : Verdict::kDead,
             std::move(text));
}

ConnectionVerdict Make(const ConnectionFacts& facts, Verdict verdict,
                       const std::string& what) {
  return ConnectionVerdict{verdict, facts.connection.kind,
                           DescribeConnection(facts.connection) + ": " + what};
}

// A connection that is not established: only a dial that gets no answer
// says something about the path.
ConnectionVerdict JudgeNotEstablished(const ConnectionFacts& facts,
                                      const netlink::TcpInfo& info,
                                      const VerdictThresholds& t) {
  const uint8_t state = facts.connection.socket.state;
  if (state == netlink::kTcpSynSent && info.retransmits > 0) {
    return Make(facts,
                info.retransmits >= t.dead_retransmits ? Verdict::kDead
                                                       : Verdict::kSuspect,
                "connecting, " + Plural(info.retransmits, "SYN unanswered",
                                        "SYNs unanswered"));
  }
  return Make(facts, Verdict::kUnknown,
              std::string("not established (") + TcpStateName(state) + ")");
}

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kUnknown:
      return "unknown";
    case Verdict::kLive:
      return "live";
    case Verdict::kSuspect:
      return "suspect";
    case Verdict::kDead:
      return "dead";
  }
  return "?";
}

VerdictThresholds VerdictThresholds::ScaledDown(int divisor) const {
  VerdictThresholds t = *this;
  t.keepalive_idle /= divisor;
  t.answer_grace /= divisor;
  t.data_silence /= divisor;
  return t;
}

std::string FormatMillis(uint64_t ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%llu ms", (unsigned long long)ms);
  } else if (ms < 10000) {
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%llu s", (unsigned long long)(ms / 1000));
  }
  return buf;
}

std::string DescribeConnection(const ClassifiedConnection& connection) {
  std::string label = ConnectionKindName(connection.kind);
  if (!connection.derp_node.empty()) label += " " + connection.derp_node;
  return label + " " + connection.socket.local.ToString() + " -> " +
         connection.socket.remote.ToString();
}

ConnectionFacts FactsFromModel(const ClassifiedConnection& connection,
                               const netlink::Model& model,
                               std::optional<netlink::Egress> route_now) {
  ConnectionFacts facts{connection, false, "", std::move(route_now)};
  const netlink::IpAddress& local = connection.socket.local.address;
  for (const auto& [index, link] : model.links()) {
    if (model.FindAddress(index, local) != nullptr) {
      facts.local_address_present = true;
      facts.local_dev = link.name;
      break;
    }
  }
  return facts;
}

ConnectionVerdict JudgeConnection(const ConnectionFacts& facts,
                                  const VerdictThresholds& thresholds) {
  const netlink::SocketRecord& socket = facts.connection.socket;
  if (!socket.tcp_info) return Make(facts, Verdict::kUnknown, "no tcp_info");
  const netlink::TcpInfo& info = *socket.tcp_info;
  if (!info.complete()) {
    return Make(facts, Verdict::kUnknown,
                "tcp_info of " + std::to_string(info.length) +
                    " bytes, too short to judge");
  }
  if (socket.state != netlink::kTcpEstablished) {
    return JudgeNotEstablished(facts, info, thresholds);
  }
  if (!facts.local_address_present) {
    return Make(facts, Verdict::kDead,
                "its local address " + socket.local.address.ToString() +
                    " is no longer on this host");
  }
  Signs signs;
  ReadTcpInfo(info, facts.connection.kind, facts.predates_uplink_change,
              thresholds, &signs);
  ReadRoute(facts, &signs);
  const std::string last =
      "last data " + FormatMillis(info.last_data_recv_ms) + " ago";
  if (signs.empty()) {
    return Make(facts, Verdict::kLive,
                last + ", last ACK " + FormatMillis(info.last_ack_recv_ms) +
                    " ago, nothing unanswered");
  }
  return Make(facts, signs.verdict(), signs.Joined() + ", " + last);
}

}  // namespace watchdog
