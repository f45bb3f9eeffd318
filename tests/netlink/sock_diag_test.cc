#include "netlink/sock_diag.h"

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "netlink/proc_sockets.h"
#include "tests/netlink/netlink_builder.h"

namespace netlink {
namespace {

namespace nt = netlink::test;

std::vector<uint8_t> TcpInfoBytes(uint8_t probes, uint8_t retransmits,
                                  uint32_t last_data_recv_ms,
                                  size_t length = sizeof(tcp_info)) {
  tcp_info info{};
  info.tcpi_state = TCP_ESTABLISHED;
  info.tcpi_probes = probes;
  info.tcpi_retransmits = retransmits;
  info.tcpi_backoff = retransmits;
  info.tcpi_unacked = retransmits > 0 ? 1 : 0;
  info.tcpi_last_data_recv = last_data_recv_ms;
  info.tcpi_last_ack_recv = last_data_recv_ms;
  info.tcpi_rtt = 1500;
  info.tcpi_total_retrans = 7;
  std::vector<uint8_t> bytes(length, 0);
  std::memcpy(bytes.data(), &info, std::min(length, sizeof info));
  return bytes;
}

SockDiagChunk ParseTcp(const std::vector<uint8_t>& bytes, uint32_t seq = 0) {
  return ParseSockDiag(bytes, IPPROTO_TCP, seq);
}

// A dump request's netlink header: `type`, `seq`, the whole length.
void ExpectDumpHeader(const std::vector<uint8_t>& bytes, uint16_t type,
                      uint32_t seq) {
  nlmsghdr header;
  std::memcpy(&header, bytes.data(), sizeof header);
  EXPECT_EQ(header.nlmsg_len, bytes.size());
  EXPECT_EQ(header.nlmsg_type, type);
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(header.nlmsg_seq, seq);
}

// One attribute at `attr_at`, the last: the bytecode, one MARK_COND
// instruction for tailscaled's mark.
void ExpectMarkBytecode(const std::vector<uint8_t>& bytes, size_t attr_at) {
  ASSERT_EQ(bytes.size(), attr_at + sizeof(nlattr) + 12);
  nlattr attr;
  std::memcpy(&attr, bytes.data() + attr_at, sizeof attr);
  EXPECT_EQ(attr.nla_type, INET_DIAG_REQ_BYTECODE);
  inet_diag_bc_op op;
  inet_diag_markcond cond;
  std::memcpy(&op, bytes.data() + attr_at + sizeof attr, sizeof op);
  std::memcpy(&cond, bytes.data() + attr_at + sizeof attr + sizeof op,
              sizeof cond);
  EXPECT_EQ(op.code, INET_DIAG_BC_MARK_COND);
  EXPECT_EQ(op.yes, 12);  // to the end: accept
  EXPECT_EQ(op.no, 16);   // past the end: reject
  EXPECT_EQ(cond.mark, 0x80000u);
  EXPECT_EQ(cond.mask, 0xff0000u);
}

TEST(SockDiagRequest, CarriesTheMarkFilterAsBytecode) {
  SockDiagQuery query{Family::kV6, IPPROTO_TCP, ClientTcpStates(),
                      TailscaleMark(), true};
  std::vector<uint8_t> bytes = BuildSockDiagRequest(query, 77, true);
  ExpectDumpHeader(bytes, SOCK_DIAG_BY_FAMILY, 77);
  inet_diag_req_v2 req;
  std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof req);
  EXPECT_EQ(req.sdiag_family, AF_INET6);
  EXPECT_EQ(req.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(req.idiag_ext, 1 << (INET_DIAG_INFO - 1));
  EXPECT_EQ(req.idiag_states, ClientTcpStates());
  EXPECT_EQ(req.idiag_states & (1u << TCP_LISTEN), 0u);
  EXPECT_NE(req.idiag_states & (1u << TCP_ESTABLISHED), 0u);
  ExpectMarkBytecode(bytes, sizeof(nlmsghdr) + sizeof req);
}

TEST(SockDiagRequest, WithoutKernelFilterOrForUdpNoBytecodeNoInfo) {
  SockDiagQuery query{Family::kV4, IPPROTO_UDP, kAllStates, TailscaleMark(),
                      true};
  std::vector<uint8_t> bytes = BuildSockDiagRequest(query, 1, false);
  EXPECT_EQ(bytes.size(), sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
  inet_diag_req_v2 req;
  std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof req);
  EXPECT_EQ(req.sdiag_protocol, IPPROTO_UDP);
  EXPECT_EQ(req.idiag_ext, 0);  // tcp_info is TCP's
}

TEST(SockDiagRequest, BothFamiliesInOneWalkIsTheOldTcpRequest) {
  SockDiagQuery query{Family::kV6, IPPROTO_TCP, ClientTcpStates(),
                      TailscaleMark(), true};
  std::vector<uint8_t> bytes = BuildTcpDiagBothFamiliesRequest(query, 9, true);
  ExpectDumpHeader(bytes, TCPDIAG_GETSOCK, 9);
  inet_diag_req req;
  std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof req);
  EXPECT_EQ(req.idiag_ext, 1 << (INET_DIAG_INFO - 1));
  EXPECT_EQ(req.idiag_states, ClientTcpStates());
  // The same bytecode as SOCK_DIAG_BY_FAMILY's, after the old header.
  const size_t attr_at = sizeof(nlmsghdr) + sizeof req;
  ExpectMarkBytecode(bytes, attr_at);
  EXPECT_EQ(BuildTcpDiagBothFamiliesRequest(query, 9, false).size(), attr_at);
}

TEST(SockDiagParser, DecodesSocketsMarksAndTcpInfo) {
  std::vector<uint8_t> datagram;
  nt::SocketSpec control;
  control.tcp_info = TcpInfoBytes(2, 0, 71000);
  nt::SocketMessage(control, 5).AppendTo(&datagram);
  nt::SocketSpec derp{.local = "2001:db8:a::2",
                      .local_port = 50000,
                      .remote = "2001:db8:d::1",
                      .remote_port = 443,
                      .inode = 99,
                      .uid = 0,
                      .mark = std::nullopt};
  nt::SocketMessage(derp, 5).AppendTo(&datagram);
  nt::DoneMessage(5).AppendTo(&datagram);
  SockDiagChunk chunk = ParseTcp(datagram, 5);
  ASSERT_FALSE(chunk.parse_error) << chunk.parse_error->ToString();
  EXPECT_TRUE(chunk.done);
  EXPECT_EQ(chunk.error, 0);
  ASSERT_EQ(chunk.sockets.size(), 2u);
  const SocketRecord& a = chunk.sockets[0];
  EXPECT_EQ(a.family, Family::kV4);
  EXPECT_EQ(a.local.ToString(), "198.51.100.2:41234");
  EXPECT_EQ(a.remote.ToString(), "192.0.2.10:80");
  EXPECT_EQ(a.state, TCP_ESTABLISHED);
  EXPECT_EQ(a.inode, 4242u);
  EXPECT_EQ(a.mark, 0x80000u);
  ASSERT_TRUE(a.tcp_info);
  EXPECT_TRUE(a.tcp_info->complete());
  EXPECT_EQ(a.tcp_info->probes, 2);
  EXPECT_EQ(a.tcp_info->last_data_recv_ms, 71000u);
  EXPECT_EQ(a.tcp_info->rtt_us, 1500u);
  EXPECT_EQ(a.tcp_info->total_retrans, 7u);
  const SocketRecord& b = chunk.sockets[1];
  EXPECT_EQ(b.family, Family::kV6);
  EXPECT_EQ(b.remote.ToString(), "[2001:db8:d::1]:443");
  EXPECT_FALSE(b.mark);
  EXPECT_FALSE(b.tcp_info);
}

// The fuzz seed, written byte by byte apart from the builder above.
TEST(SockDiagParser, RepliesToTheOneWalkRequestCarryBothFamilies) {
  std::vector<uint8_t> datagram;
  nt::SocketMessage({.local_port = 1, .type = TCPDIAG_GETSOCK}, 5)
      .AppendTo(&datagram);
  nt::SocketMessage({.local = "2001:db8::2",
                     .local_port = 2,
                     .remote = "2001:db8::10",
                     .type = TCPDIAG_GETSOCK},
                    5)
      .AppendTo(&datagram);
  nt::DoneMessage(5).AppendTo(&datagram);
  SockDiagChunk chunk = ParseTcp(datagram, 5);
  ASSERT_FALSE(chunk.parse_error) << chunk.parse_error->ToString();
  EXPECT_TRUE(chunk.done);
  ASSERT_EQ(chunk.sockets.size(), 2u);
  EXPECT_EQ(chunk.sockets[0].family, Family::kV4);
  EXPECT_EQ(chunk.sockets[1].family, Family::kV6);
  EXPECT_EQ(chunk.sockets[1].local.port, 2);
}

TEST(SockDiagParser, TheFuzzSeedDumpParses) {
  std::ifstream in(std::string(TSWATCHDOG_TEST_DATA) +
                       "/../fuzz/corpus/sock_diag/dump-tcp-three-sockets",
                   std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  SockDiagChunk chunk = ParseTcp(bytes, 7);
  ASSERT_FALSE(chunk.parse_error) << chunk.parse_error->ToString();
  EXPECT_TRUE(chunk.done);
  ASSERT_EQ(chunk.sockets.size(), 3u);
  EXPECT_EQ(chunk.sockets[0].remote.ToString(), "192.0.2.10:80");
  EXPECT_EQ(chunk.sockets[0].tcp_info->probes, 2);
  EXPECT_EQ(chunk.sockets[0].tcp_info->last_data_recv_ms, 71000u);
  EXPECT_EQ(chunk.sockets[1].tcp_info->retransmits, 3);
  EXPECT_EQ(chunk.sockets[1].tcp_info->length, 232u);
  EXPECT_EQ(chunk.sockets[2].family, Family::kV4);  // v4-mapped
  EXPECT_FALSE(chunk.sockets[2].tcp_info->complete());
}

TEST(SockDiagParser, AShortTcpInfoIsReadByLength) {
  // An old kernel's struct: the first 40 bytes (up to tcpi_lost).
  nt::SocketSpec spec;
  spec.tcp_info = TcpInfoBytes(3, 4, 9000, 40);
  SockDiagChunk chunk = ParseTcp(nt::SocketMessage(spec).Bytes());
  ASSERT_EQ(chunk.sockets.size(), 1u);
  const TcpInfo& info = *chunk.sockets[0].tcp_info;
  EXPECT_EQ(info.length, 40u);
  EXPECT_FALSE(info.complete());
  EXPECT_EQ(info.probes, 3);
  EXPECT_EQ(info.retransmits, 4);
  EXPECT_EQ(info.unacked, 1u);
  EXPECT_EQ(info.last_data_recv_ms, 0u);  // not sent
  // And a newer kernel's longer struct is no problem either.
  spec.tcp_info = TcpInfoBytes(1, 0, 500, sizeof(tcp_info) + 200);
  chunk = ParseTcp(nt::SocketMessage(spec).Bytes());
  ASSERT_EQ(chunk.sockets.size(), 1u);
  EXPECT_TRUE(chunk.sockets[0].tcp_info->complete());
  EXPECT_EQ(chunk.sockets[0].tcp_info->last_data_recv_ms, 500u);
}

TEST(SockDiagParser, AnIpv4FlowOnADualStackSocketIsIpv4) {
  nt::SocketSpec spec{.local = "::ffff:198.51.100.2",
                      .remote = "::ffff:192.0.2.10"};
  SockDiagChunk chunk = ParseTcp(nt::SocketMessage(spec).Bytes());
  ASSERT_EQ(chunk.sockets.size(), 1u);
  EXPECT_EQ(chunk.sockets[0].family, Family::kV4);
  EXPECT_EQ(chunk.sockets[0].local.ToString(), "198.51.100.2:41234");
  EXPECT_EQ(chunk.sockets[0].remote.ToString(), "192.0.2.10:80");
}

TEST(SockDiagParser, ErrorsStaleRepliesAndBadInput) {
  // The kernel refusing the request.
  SockDiagChunk refused = ParseTcp(nt::ErrorMessage(-EINVAL, 3).Bytes(), 3);
  EXPECT_TRUE(refused.done);
  EXPECT_EQ(refused.error, EINVAL);
  // A dump that failed midway: the errno rides in NLMSG_DONE.
  std::vector<uint8_t> done = nt::DoneMessage(3).Bytes();
  int32_t code = -EINTR;
  std::memcpy(done.data() + sizeof(nlmsghdr), &code, sizeof code);
  EXPECT_EQ(ParseTcp(done, 3).error, EINTR);
  // Replies to an earlier dump are skipped.
  std::vector<uint8_t> datagram;
  nt::SocketMessage({}, 2).AppendTo(&datagram);
  nt::SocketMessage({}, 3).AppendTo(&datagram);
  SockDiagChunk mixed = ParseTcp(datagram, 3);
  EXPECT_EQ(mixed.stale, 1u);
  EXPECT_EQ(mixed.sockets.size(), 1u);
  // A message too short for inet_diag_msg, and a bad attribute length.
  std::vector<uint8_t> bytes = nt::SocketMessage({}).Bytes();
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + 40);
  uint32_t len = 40;
  std::memcpy(cut.data(), &len, sizeof len);
  EXPECT_EQ(ParseTcp(cut).parse_error->kind, ParseErrorKind::kTruncatedPayload);
  const size_t attr_at = sizeof(nlmsghdr) + sizeof(inet_diag_msg);
  uint16_t bad_len = 200;
  std::memcpy(bytes.data() + attr_at, &bad_len, sizeof bad_len);
  SockDiagChunk bad = ParseTcp(bytes);
  EXPECT_EQ(bad.parse_error->kind, ParseErrorKind::kBadAttribute);
  EXPECT_TRUE(bad.sockets.empty());
  // Half a header.
  EXPECT_EQ(ParseTcp(std::vector<uint8_t>(7, 0)).parse_error->kind,
            ParseErrorKind::kTruncatedHeader);
}

// A scripted kernel: answers each request with the datagrams `respond`
// returns for it (a negative errno instead of a datagram for receive errors).
class FakeChannel : public NetlinkChannel {
 public:
  struct Reply {
    std::vector<uint8_t> bytes;
    int error = 0;
  };
  using Responder = std::function<std::vector<Reply>(
      const inet_diag_req_v2& req, bool has_bytecode, uint32_t seq)>;
  explicit FakeChannel(Responder respond) : respond_(std::move(respond)) {}

  int Send(std::span<const uint8_t> message) override {
    nlmsghdr header;
    inet_diag_req_v2 req{};
    std::memcpy(&header, message.data(), sizeof header);
    size_t fixed = sizeof req;
    if (header.nlmsg_type == TCPDIAG_GETSOCK) {
      // The kernel dumps both families for it: AF_UNSPEC.
      inet_diag_req old;
      fixed = sizeof old;
      std::memcpy(&old, message.data() + sizeof header, sizeof old);
      req.sdiag_family = AF_UNSPEC;
      req.sdiag_protocol = IPPROTO_TCP;
      req.idiag_ext = old.idiag_ext;
      req.idiag_states = old.idiag_states;
    } else {
      std::memcpy(&req, message.data() + sizeof header, sizeof req);
    }
    const bool bytecode = message.size() > sizeof header + fixed;
    requests.push_back(bytecode);
    families.push_back(req.sdiag_family);
    for (Reply& reply : respond_(req, bytecode, header.nlmsg_seq)) {
      queue_.push_back(std::move(reply));
    }
    return 0;
  }
  ssize_t Receive(std::span<uint8_t> buffer) override {
    if (queue_.empty()) return -EAGAIN;
    Reply reply = std::move(queue_.front());
    queue_.pop_front();
    if (reply.error != 0) return -reply.error;
    std::memcpy(buffer.data(), reply.bytes.data(), reply.bytes.size());
    return static_cast<ssize_t>(reply.bytes.size());
  }

  std::vector<bool> requests;  // whether each carried the bytecode
  std::vector<int> families;   // of each (AF_UNSPEC: the one-walk dump)

 private:
  Responder respond_;
  std::deque<Reply> queue_;
};

std::vector<FakeChannel::Reply> MarkedAndUnmarked(uint32_t seq) {
  std::vector<uint8_t> datagram;
  nt::SocketMessage({.local_port = 1, .mark = 0x80000}, seq)
      .AppendTo(&datagram);
  nt::SocketMessage({.local_port = 2, .mark = 0}, seq).AppendTo(&datagram);
  nt::SocketMessage({.local_port = 3, .mark = 0x80001}, seq)
      .AppendTo(&datagram);
  return {{datagram}, {nt::DoneMessage(seq).Bytes()}};
}

TEST(SockDiag, FallsBackToUserSpaceFilteringOnceTheKernelRefuses) {
  auto channel = std::make_unique<FakeChannel>(
      [](const inet_diag_req_v2&, bool bytecode, uint32_t seq) {
        if (bytecode) {
          return std::vector<FakeChannel::Reply>{
              {nt::ErrorMessage(-EINVAL, seq).Bytes()}};
        }
        return MarkedAndUnmarked(seq);
      });
  FakeChannel* fake = channel.get();
  SockDiag diag(std::move(channel));
  SockDiagQuery query{Family::kV4, IPPROTO_TCP, ClientTcpStates(),
                      TailscaleMark(), true};
  SockDump dump = diag.Dump(query);
  EXPECT_EQ(dump.error, 0) << dump.detail;
  EXPECT_FALSE(dump.filtered_in_kernel);
  EXPECT_EQ(dump.received, 3u);
  ASSERT_EQ(dump.sockets.size(), 2u);  // 0x80001 & 0xff0000 == 0x80000
  EXPECT_EQ(dump.sockets[0].local.port, 1);
  EXPECT_EQ(dump.sockets[1].local.port, 3);
  EXPECT_FALSE(diag.kernel_filter());
  // The next dump does not try the bytecode again.
  diag.Dump(query);
  EXPECT_EQ(fake->requests, (std::vector<bool>{true, false, false}));
}

TEST(SockDiag, KernelFilterKeepsAskingWithBytecode) {
  auto channel = std::make_unique<FakeChannel>(
      [](const inet_diag_req_v2&, bool, uint32_t seq) {
        return MarkedAndUnmarked(seq);
      });
  SockDiag diag(std::move(channel), /*max_sockets=*/1);
  SockDump dump = diag.Dump(
      {Family::kV4, IPPROTO_TCP, ClientTcpStates(), TailscaleMark(), true});
  EXPECT_TRUE(dump.filtered_in_kernel);
  EXPECT_TRUE(diag.kernel_filter());
  // The fake ignores the bytecode; the user-space check still applies, and
  // max_sockets bounds what is kept.
  EXPECT_EQ(dump.sockets.size(), 1u);
  EXPECT_TRUE(dump.truncated);
}

TEST(SockDiag, NoMarksInTheDumpIsAnError) {
  auto channel = std::make_unique<FakeChannel>(
      [](const inet_diag_req_v2&, bool bytecode, uint32_t seq) {
        if (bytecode) {
          return std::vector<FakeChannel::Reply>{
              {nt::ErrorMessage(-EPERM, seq).Bytes()}};
        }
        return std::vector<FakeChannel::Reply>{
            {nt::SocketMessage({.mark = std::nullopt}, seq).Bytes()},
            {nt::DoneMessage(seq).Bytes()}};
      });
  SockDiag diag(std::move(channel));
  SockDump dump =
      diag.Dump({Family::kV4, IPPROTO_TCP, kAllStates, TailscaleMark(), true});
  EXPECT_EQ(dump.error, EPERM);
  EXPECT_NE(dump.detail.find("CAP_NET_ADMIN"), std::string::npos)
      << dump.detail;
}

TEST(SockDiag, TimeoutsAndIpv6BeingOffAreReported) {
  auto channel = std::make_unique<FakeChannel>(
      [](const inet_diag_req_v2& req, bool, uint32_t seq) {
        if (req.sdiag_family == AF_UNSPEC) {  // no one-walk dump either
          return std::vector<FakeChannel::Reply>{
              {nt::ErrorMessage(-EOPNOTSUPP, seq).Bytes()}};
        }
        if (req.sdiag_family == AF_INET6) {
          return std::vector<FakeChannel::Reply>{
              {nt::ErrorMessage(-EAFNOSUPPORT, seq).Bytes()}};
        }
        // A dump that never ends: the receive times out.
        return std::vector<FakeChannel::Reply>{
            {nt::SocketMessage({}, seq).Bytes()}, {{}, EAGAIN}};
      });
  SockDiag diag(std::move(channel));
  SockDump dump = diag.DumpBothFamilies(
      {Family::kV4, IPPROTO_TCP, kAllStates, TailscaleMark(), true});
  EXPECT_EQ(dump.error, EAGAIN);
  EXPECT_NE(dump.detail.find("tcpv4"), std::string::npos) << dump.detail;
  EXPECT_NE(dump.detail.find("timed out"), std::string::npos) << dump.detail;
  EXPECT_EQ(dump.sockets.size(), 1u);  // what came before the timeout
}

// Both families' sockets, in one reply to the one-walk request or split by
// family.
std::vector<FakeChannel::Reply> BothFamilies(const inet_diag_req_v2& req,
                                             uint32_t seq) {
  const uint16_t type =
      req.sdiag_family == AF_UNSPEC ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
  std::vector<uint8_t> datagram;
  if (req.sdiag_family != AF_INET6) {
    nt::SocketMessage({.local_port = 4, .type = type}, seq).AppendTo(&datagram);
  }
  if (req.sdiag_family != AF_INET) {
    nt::SocketMessage({.local = "2001:db8::2",
                       .local_port = 6,
                       .remote = "2001:db8::10",
                       .type = type},
                      seq)
        .AppendTo(&datagram);
  }
  return {{datagram}, {nt::DoneMessage(seq).Bytes()}};
}

TEST(SockDiag, BothFamiliesOfTcpComeInOneDump) {
  auto channel = std::make_unique<FakeChannel>(
      [](const inet_diag_req_v2& req, bool, uint32_t seq) {
        return BothFamilies(req, seq);
      });
  FakeChannel* fake = channel.get();
  SockDiag diag(std::move(channel));
  SockDump dump = diag.DumpBothFamilies(
      {Family::kV4, IPPROTO_TCP, ClientTcpStates(), TailscaleMark(), true});
  EXPECT_EQ(dump.error, 0) << dump.detail;
  EXPECT_TRUE(dump.filtered_in_kernel);
  ASSERT_EQ(dump.sockets.size(), 2u);
  EXPECT_EQ(dump.sockets[0].family, Family::kV4);
  EXPECT_EQ(dump.sockets[1].family, Family::kV6);
  EXPECT_EQ(fake->families, std::vector<int>{AF_UNSPEC});
  EXPECT_EQ(fake->requests, std::vector<bool>{true});  // with the bytecode
  // UDP has no such request: one dump per family.
  diag.DumpBothFamilies(
      {Family::kV4, IPPROTO_UDP, kAllStates, TailscaleMark(), false});
  EXPECT_EQ(fake->families, (std::vector<int>{AF_UNSPEC, AF_INET, AF_INET6}));
}

TEST(SockDiag, AKernelWithoutTheOneWalkDumpGetsOnePerFamilyFromThenOn) {
  for (int refusal : {EOPNOTSUPP, EINVAL, EPERM}) {
    auto channel = std::make_unique<FakeChannel>(
        [refusal](const inet_diag_req_v2& req, bool, uint32_t seq) {
          if (req.sdiag_family == AF_UNSPEC) {
            return std::vector<FakeChannel::Reply>{
                {nt::ErrorMessage(-refusal, seq).Bytes()}};
          }
          return BothFamilies(req, seq);
        });
    FakeChannel* fake = channel.get();
    SockDiag diag(std::move(channel));
    const SockDiagQuery query{Family::kV4, IPPROTO_TCP, ClientTcpStates(),
                              TailscaleMark(), true};
    SockDump dump = diag.DumpBothFamilies(query);
    EXPECT_EQ(dump.error, 0) << dump.detail;
    EXPECT_EQ(dump.sockets.size(), 2u);
    EXPECT_FALSE(diag.one_walk());
    EXPECT_TRUE(diag.kernel_filter());  // not the filter's fault
    diag.DumpBothFamilies(query);
    EXPECT_EQ(fake->families, (std::vector<int>{AF_UNSPEC, AF_INET, AF_INET6,
                                                AF_INET, AF_INET6}))
        << std::strerror(refusal);
  }
}

TEST(SockDiag, OtherErrorsOfTheOneWalkDumpAreTheDumpsErrors) {
  auto channel = std::make_unique<FakeChannel>(
      [](const inet_diag_req_v2&, bool, uint32_t seq) {
        return std::vector<FakeChannel::Reply>{
            {nt::SocketMessage({.type = TCPDIAG_GETSOCK}, seq).Bytes()},
            {{}, EAGAIN}};
      });
  SockDiag diag(std::move(channel));
  SockDump dump = diag.DumpBothFamilies(
      {Family::kV4, IPPROTO_TCP, ClientTcpStates(), TailscaleMark(), true});
  EXPECT_EQ(dump.error, EAGAIN);
  EXPECT_NE(dump.detail.find("tcp, both families"), std::string::npos)
      << dump.detail;
  EXPECT_TRUE(diag.one_walk());  // a timeout is no refusal
}

TEST(ProcSockets, SocketInodeFromLink) {
  EXPECT_EQ(SocketInodeFromLink("socket:[12345]"), 12345u);
  EXPECT_EQ(SocketInodeFromLink("socket:[0]"), 0u);
  EXPECT_FALSE(SocketInodeFromLink("socket:[]"));
  EXPECT_FALSE(SocketInodeFromLink("socket:[12x]"));
  EXPECT_FALSE(SocketInodeFromLink("socket:[99999999999999999999999]"));
  EXPECT_FALSE(SocketInodeFromLink("pipe:[12345]"));
  EXPECT_FALSE(SocketInodeFromLink("anon_inode:[eventfd]"));
  EXPECT_FALSE(SocketInodeFromLink("/dev/null"));
  EXPECT_FALSE(SocketInodeFromLink("socket:[12"));
}

TEST(ProcSockets, FindsTheSocketInodesOfAProcess) {
  // A fake /proc: fd links are symlinks, their targets arbitrary text.
  const std::string root =
      ::testing::TempDir() + "/proc_sockets_" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/42/fd");
  const std::pair<const char*, const char*> links[] = {
      {"0", "/dev/null"},   {"3", "socket:[900]"}, {"4", "pipe:[5]"},
      {"5", "socket:[17]"}, {"6", "socket:[900]"}, {"7", "socket:[bad]"}};
  for (const auto& [fd, target] : links) {
    ASSERT_EQ(symlink(target, (root + "/42/fd/" + fd).c_str()), 0);
  }
  SocketInodes found = SocketInodesOfProcess(42, root);
  EXPECT_EQ(found.error, 0);
  EXPECT_EQ(found.inodes, (std::vector<uint64_t>{17, 900}));
  SocketInodes missing = SocketInodesOfProcess(43, root);
  EXPECT_EQ(missing.error, ENOENT);
  EXPECT_EQ(missing.path, root + "/43/fd");
  std::filesystem::remove_all(root);

  std::vector<SocketRecord> records(3);
  records[0].inode = 17;
  records[1].inode = 18;
  records[2].inode = 900;
  std::vector<SocketRecord> kept = KeepInodes(records, found.inodes);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].inode, 17u);
  EXPECT_EQ(kept[1].inode, 900u);
}

TEST(ProcSockets, PeerOfAUnixSocketPair) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  int error = -1;
  auto peer = PeerOf(fds[0], &error);
  ASSERT_TRUE(peer);
  EXPECT_EQ(error, 0);
  EXPECT_EQ(peer->pid, getpid());
  EXPECT_EQ(peer->uid, getuid());
  close(fds[0]);
  close(fds[1]);
  EXPECT_FALSE(PeerOf(fds[0], &error));  // closed: EBADF
  EXPECT_EQ(error, EBADF);
}

}  // namespace
}  // namespace netlink
