// Table tests of the connection verdict and the control/DERP classification
// (watchdog/core): tcp_info, addresses and routes in, verdict and words out.
#include "watchdog/core/connection_verdict.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

#include "watchdog/core/connections.h"

namespace watchdog {
namespace {

using netlink::IpAddress;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

struct Tcp {
  uint8_t probes = 0;
  uint8_t retransmits = 0;
  uint32_t unacked = 0;
  uint32_t last_data_ms = 5000;
  uint32_t last_ack_ms = 5000;
  size_t length = netlink::TcpInfo::kTcpInfoCoreLength;
};

netlink::SocketRecord Socket(const Tcp& tcp, uint8_t state = TCP_ESTABLISHED,
                             uint16_t remote_port = 80) {
  netlink::SocketRecord s;
  s.protocol = IPPROTO_TCP;
  s.state = state;
  s.local = {Ip("198.51.100.2"), 41234};
  s.remote = {Ip("192.0.2.10"), remote_port};
  s.mark = 0x80000;
  netlink::TcpInfo info;
  info.length = tcp.length;
  info.state = state;
  info.probes = tcp.probes;
  info.retransmits = tcp.retransmits;
  info.backoff = tcp.retransmits;
  info.unacked = tcp.unacked;
  info.last_data_recv_ms = tcp.last_data_ms;
  info.last_ack_recv_ms = tcp.last_ack_ms;
  s.tcp_info = info;
  return s;
}

ConnectionFacts Facts(const netlink::SocketRecord& socket,
                      ConnectionKind kind = ConnectionKind::kControl) {
  ConnectionFacts facts;
  facts.connection = {socket, kind, kind == ConnectionKind::kDerp ? "1a" : ""};
  facts.local_dev = "wan0";
  return facts;
}

netlink::Egress Route(const char* dev, const char* source) {
  netlink::Egress egress;
  egress.present = true;
  egress.dev = dev;
  egress.source = Ip(source);
  return egress;
}

struct VerdictCase {
  const char* name;
  ConnectionFacts facts;
  Verdict want;
  const char* evidence;  // the words after "control A -> B: "
};

TEST(ConnectionVerdict, Table) {
  const std::string prefix = "control 198.51.100.2:41234 -> 192.0.2.10:80: ";
  ConnectionFacts gone = Facts(Socket({}));
  gone.local_address_present = false;
  ConnectionFacts moved = Facts(Socket({}));
  moved.route_now = Route("wan1", "203.0.113.2");
  ConnectionFacts moved_and_probed =
      Facts(Socket({.probes = 1, .last_ack_ms = 36000}));
  moved_and_probed.route_now = Route("wan1", "203.0.113.2");
  ConnectionFacts new_source = Facts(Socket({}));
  new_source.route_now = Route("wan0", "198.51.100.9");
  ConnectionFacts same_way = Facts(Socket({}));
  same_way.route_now = Route("wan0", "198.51.100.2");
  ConnectionFacts retransmitting_after_change =
      Facts(Socket({.retransmits = 1, .unacked = 1, .last_ack_ms = 3000}));
  retransmitting_after_change.predates_uplink_change = true;
  ConnectionFacts quiet_after_change = Facts(Socket({}));
  quiet_after_change.predates_uplink_change = true;
  ConnectionFacts no_route = Facts(Socket({}));
  no_route.route_now = netlink::Egress{};
  no_route.route_now->lookup_error = ENETUNREACH;

  const VerdictCase cases[] = {
      {"healthy idle: acks within the keep-alive time",
       Facts(Socket({.last_data_ms = 40000, .last_ack_ms = 10000})),
       Verdict::kLive,
       "last data 40 s ago, last ACK 10 s ago, nothing unanswered"},
      {"a keep-alive probe just sent is not yet a sign",
       Facts(
           Socket({.probes = 1, .last_data_ms = 31000, .last_ack_ms = 31000})),
       Verdict::kLive,
       "last data 31 s ago, last ACK 31 s ago, nothing unanswered"},
      {"a probe unanswered past the grace",
       Facts(
           Socket({.probes = 1, .last_data_ms = 36000, .last_ack_ms = 36000})),
       Verdict::kSuspect,
       "a keep-alive probe unanswered, last ACK 36 s ago, last data 36 s ago"},
      {"two probes unanswered",
       Facts(
           Socket({.probes = 2, .last_data_ms = 71000, .last_ack_ms = 71000})),
       Verdict::kDead, "2 keep-alive probes unanswered, last data 71 s ago"},
      {"one retransmission",
       Facts(Socket({.retransmits = 1, .unacked = 1, .last_ack_ms = 400})),
       Verdict::kSuspect, "1 retransmission unanswered, last data 5.0 s ago"},
      {"three retransmissions in a row",
       Facts(Socket({.retransmits = 3, .unacked = 2, .last_ack_ms = 2500})),
       Verdict::kDead,
       "3 retransmissions unanswered, last ACK 2.5 s ago, last data 5.0 s ago"},
      {"one retransmission on a connection the uplink changed under",
       retransmitting_after_change, Verdict::kDead,
       "1 retransmission unanswered since the uplink changed under it, last "
       "data 5.0 s ago"},
      {"an uplink change alone is no sign", quiet_after_change, Verdict::kLive,
       nullptr},
      {"control silent past a minute and more, acks fine",
       Facts(Socket({.last_data_ms = 85000, .last_ack_ms = 20000})),
       Verdict::kSuspect,
       "no data for 85 s (its server sends some about every minute), last "
       "data 85 s ago"},
      {"other connections may be silent",
       Facts(Socket({.last_data_ms = 300000, .last_ack_ms = 20000}),
             ConnectionKind::kOther),
       Verdict::kLive, nullptr},
      {"local address gone", gone, Verdict::kDead,
       "its local address 198.51.100.2 is no longer on this host"},
      {"route leaves by another device", moved, Verdict::kSuspect,
       "the route to 192.0.2.10 now leaves by wan1, not by the socket's wan0, "
       "last data 5.0 s ago"},
      {"route moved and a probe unanswered", moved_and_probed, Verdict::kDead,
       "a keep-alive probe unanswered, last ACK 36 s ago, the route to "
       "192.0.2.10 now leaves by wan1, not by the socket's wan0, last data "
       "5.0 s ago"},
      {"route with another source", new_source, Verdict::kSuspect,
       "the route to 192.0.2.10 now uses source 198.51.100.9, not the "
       "socket's 198.51.100.2, last data 5.0 s ago"},
      {"route the same way", same_way, Verdict::kLive, nullptr},
      {"no route any more", no_route, Verdict::kSuspect,
       "no route to 192.0.2.10 now (Network is unreachable), last data 5.0 s "
       "ago"},
      {"short tcp_info", Facts(Socket({.length = 40})), Verdict::kUnknown,
       "tcp_info of 40 bytes, too short to judge"},
      {"dialing, SYN retransmitted",
       Facts(Socket({.retransmits = 1}, TCP_SYN_SENT)), Verdict::kSuspect,
       "connecting, 1 SYN unanswered"},
      {"dialing, SYNs unanswered",
       Facts(Socket({.retransmits = 3}, TCP_SYN_SENT)), Verdict::kDead,
       "connecting, 3 SYNs unanswered"},
      {"closing", Facts(Socket({}, TCP_CLOSE_WAIT)), Verdict::kUnknown,
       "not established (close-wait)"},
  };
  for (const VerdictCase& c : cases) {
    SCOPED_TRACE(c.name);
    ConnectionVerdict v = JudgeConnection(c.facts, VerdictThresholds{});
    EXPECT_EQ(VerdictName(v.verdict), std::string(VerdictName(c.want)));
    EXPECT_EQ(v.kind, c.facts.connection.kind);
    if (c.evidence != nullptr) {
      EXPECT_EQ(v.evidence, prefix + c.evidence);
    }
  }
}

TEST(ConnectionVerdict, NoTcpInfoAndDerpLabels) {
  netlink::SocketRecord socket = Socket({});
  socket.tcp_info.reset();
  EXPECT_EQ(JudgeConnection(Facts(socket), {}).evidence,
            "control 198.51.100.2:41234 -> 192.0.2.10:80: no tcp_info");
  ConnectionVerdict derp = JudgeConnection(
      Facts(Socket({.last_data_ms = 70000, .last_ack_ms = 10000}, 1, 443),
            ConnectionKind::kDerp),
      {});
  // 60 s + 5 s is a DERP server's keep-alive period: 70 s is not yet silence.
  EXPECT_EQ(derp.verdict, Verdict::kLive);
  EXPECT_EQ(derp.evidence.rfind("DERP 1a 198.51.100.2:41234 -> ", 0), 0u)
      << derp.evidence;
}

TEST(ConnectionVerdict, ScaledThresholdsForTheLab) {
  VerdictThresholds t = VerdictThresholds{}.ScaledDown(30);
  EXPECT_EQ(t.keepalive_idle.count(), 1000);
  EXPECT_EQ(t.dead_probes, 2);
  ConnectionFacts f = Facts(Socket({.probes = 1, .last_ack_ms = 1200}));
  EXPECT_EQ(JudgeConnection(f, t).verdict, Verdict::kSuspect);
  EXPECT_EQ(JudgeConnection(f, VerdictThresholds{}).verdict, Verdict::kLive);
}

TEST(ConnectionVerdict, FactsFromTheModel) {
  netlink::Model model;
  netlink::LinkMessage wan0;
  wan0.index = 2;
  wan0.name = "wan0";
  model.Apply(wan0);
  netlink::AddressMessage addr;
  addr.index = 2;
  addr.prefix_len = 24;
  addr.address = Ip("198.51.100.2");
  model.Apply(addr);
  ClassifiedConnection c{Socket({}), ConnectionKind::kControl, ""};
  ConnectionFacts here = FactsFromModel(c, model, Route("wan1", "203.0.113.2"));
  EXPECT_TRUE(here.local_address_present);
  EXPECT_EQ(here.local_dev, "wan0");
  EXPECT_EQ(here.route_now->dev, "wan1");
  EXPECT_EQ(JudgeConnection(here, {}).verdict, Verdict::kSuspect);
  addr.deleted = true;
  model.Apply(addr);
  ConnectionFacts gone = FactsFromModel(c, model, std::nullopt);
  EXPECT_FALSE(gone.local_address_present);
  EXPECT_EQ(JudgeConnection(gone, {}).verdict, Verdict::kDead);
}

TEST(ConnectionVerdict, FormatMillis) {
  EXPECT_EQ(FormatMillis(0), "0 ms");
  EXPECT_EQ(FormatMillis(999), "999 ms");
  EXPECT_EQ(FormatMillis(1500), "1.5 s");
  EXPECT_EQ(FormatMillis(71999), "71 s");
}

DerpServer Derp(const char* name, const char* v4, const char* v6,
                uint16_t port = 443) {
  DerpServer d;
  d.name = name;
  if (v4) d.ipv4 = Ip(v4);
  if (v6) d.ipv6 = Ip(v6);
  d.port = port;
  return d;
}

netlink::SocketRecord To(const char* remote, uint16_t port,
                         uint8_t protocol = IPPROTO_TCP) {
  netlink::SocketRecord s;
  s.protocol = protocol;
  s.remote = {Ip(remote), port};
  return s;
}

TEST(ClassifyConnections, ControlDerpAndOthers) {
  const std::vector<DerpServer> derp = {
      Derp("1a", "192.0.2.50", "2001:db8:d::50"),
      Derp("900a", "192.0.2.60", nullptr, 8443)};
  const std::vector<netlink::SocketRecord> sockets = {
      To("192.0.2.50", 443),      // DERP 1a by IPv4
      To("2001:db8:d::50", 443),  // DERP 1a by IPv6
      To("192.0.2.60", 8443),     // DERP 900a on its own port
      To("192.0.2.60", 443),      // 900a's address, not its DERP port
      To("192.0.2.10", 80),       // control
      To("192.0.2.70", 443),      // logtail and the like: a port-80 one exists
      To("192.0.2.50", 443, IPPROTO_UDP),
  };
  std::vector<ClassifiedConnection> c = ClassifyConnections(sockets, derp);
  ASSERT_EQ(c.size(), sockets.size());
  EXPECT_EQ(c[0].kind, ConnectionKind::kDerp);
  EXPECT_EQ(c[0].derp_node, "1a");
  EXPECT_EQ(c[1].kind, ConnectionKind::kDerp);
  EXPECT_EQ(c[2].kind, ConnectionKind::kDerp);
  EXPECT_EQ(c[2].derp_node, "900a");
  EXPECT_EQ(c[3].kind, ConnectionKind::kOther);
  EXPECT_EQ(c[4].kind, ConnectionKind::kControl);
  EXPECT_EQ(c[5].kind, ConnectionKind::kOther);
  EXPECT_EQ(c[6].kind, ConnectionKind::kOther);
}

TEST(ClassifyConnections, Port443IsControlWhenNothingUsesPort80) {
  const std::vector<netlink::SocketRecord> sockets = {To("192.0.2.10", 443),
                                                      To("192.0.2.50", 443)};
  const std::vector<DerpServer> derp = {Derp("1a", "192.0.2.50", nullptr)};
  std::vector<ClassifiedConnection> c = ClassifyConnections(sockets, derp);
  EXPECT_EQ(c[0].kind, ConnectionKind::kControl);
  EXPECT_EQ(c[1].kind, ConnectionKind::kDerp);
}

}  // namespace
}  // namespace watchdog
