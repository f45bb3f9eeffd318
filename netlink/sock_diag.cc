#include "netlink/sock_diag.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "netlink/egress.h"
#include "netlink/socket.h"
#include "netlink/wire.h"

namespace netlink {

static_assert(kIpProtocolTcp == IPPROTO_TCP && kIpProtocolUdp == IPPROTO_UDP);
static_assert(int{kTcpEstablished} == TCP_ESTABLISHED &&
              int{kTcpSynSent} == TCP_SYN_SENT &&
              int{kTcpCloseWait} == TCP_CLOSE_WAIT &&
              int{kTcpListen} == TCP_LISTEN && int{kTcpClosing} == TCP_CLOSING);

namespace {

// The bytecode that keeps sockets whose mark matches: one MARK_COND
// instruction; "yes" jumps to the end (accept), "no" jumps past it (reject).
// The kernel audits exactly these offsets (net/ipv4/inet_diag.c,
// inet_diag_bc_audit; iproute2's ss emits the same).
struct MarkFilterProgram {
  inet_diag_bc_op op;
  inet_diag_markcond cond;
};

std::optional<IpAddress> EndpointAddress(uint8_t family,
                                         const __be32 (&words)[4]) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(words);
  return IpAddress::FromBytes({bytes, family == AF_INET ? 4u : 16u});
}

// A dual-stack socket talking IPv4 shows ::ffff:a.b.c.d; it is an IPv4 flow.
bool IsV4Mapped(const IpAddress& ip) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return !ip.is_v4() && std::memcmp(ip.data(), kPrefix, sizeof kPrefix) == 0;
}

IpAddress Unmap(const IpAddress& ip) {
  return *IpAddress::FromBytes({ip.data() + 12, 4});
}

// The fixed part of a reply (family checked by the caller).
SocketRecord FromDiagMsg(const inet_diag_msg& msg, uint8_t protocol) {
  SocketRecord record;
  record.family = msg.idiag_family == AF_INET ? Family::kV4 : Family::kV6;
  record.protocol = protocol;
  record.state = msg.idiag_state;
  record.local = {*EndpointAddress(msg.idiag_family, msg.id.idiag_src),
                  ntohs(msg.id.idiag_sport)};
  record.remote = {*EndpointAddress(msg.idiag_family, msg.id.idiag_dst),
                   ntohs(msg.id.idiag_dport)};
  if (IsV4Mapped(record.local.address) && IsV4Mapped(record.remote.address)) {
    record.family = Family::kV4;
    record.local.address = Unmap(record.local.address);
    record.remote.address = Unmap(record.remote.address);
  }
  record.bound_ifindex = msg.id.idiag_if;
  record.cookie =
      uint64_t{msg.id.idiag_cookie[1]} << 32 | msg.id.idiag_cookie[0];
  record.uid = msg.idiag_uid;
  record.inode = msg.idiag_inode;
  record.timer = msg.idiag_timer;
  record.timer_retries = msg.idiag_retrans;
  record.timer_expires_ms = msg.idiag_expires;
  return record;
}

// INET_DIAG_MARK and INET_DIAG_INFO; false on a malformed attribute.
bool ReadAttributes(std::span<const uint8_t> area, SocketRecord* record) {
  return wire::ForEachAttribute(area, [&](const wire::Attribute& attr) {
    uint32_t value;
    switch (attr.type) {
      case INET_DIAG_MARK:
        if (!wire::AttrU32(attr, &value)) return false;
        record->mark = value;
        return true;
      case INET_DIAG_INFO:
        if (record->protocol == IPPROTO_TCP) {
          record->tcp_info = DecodeTcpInfo(attr.payload);
        }
        return true;
      default:
        return true;
    }
  });
}

// Decodes one SOCK_DIAG_BY_FAMILY message (`message` includes its header).
std::optional<SocketRecord> DecodeSocket(std::span<const uint8_t> message,
                                         uint8_t protocol, size_t offset,
                                         std::optional<ParseError>* error) {
  auto fail = [&](ParseErrorKind kind, std::string detail) {
    *error = ParseError{kind, offset, std::move(detail)};
    return std::nullopt;
  };
  const std::span<const uint8_t> payload = message.subspan(sizeof(nlmsghdr));
  inet_diag_msg msg;
  if (!wire::ReadAt(payload, 0, &msg)) {
    return fail(ParseErrorKind::kTruncatedPayload,
                "payload of " + std::to_string(payload.size()) +
                    " bytes is shorter than inet_diag_msg");
  }
  if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) {
    return fail(ParseErrorKind::kTruncatedPayload,
                "address family " + std::to_string(msg.idiag_family));
  }
  SocketRecord record = FromDiagMsg(msg, protocol);
  if (!ReadAttributes(
          payload.subspan(std::min(wire::Align4(sizeof msg), payload.size())),
          &record)) {
    return fail(ParseErrorKind::kBadAttribute,
                "attribute out of bounds or of bad size");
  }
  return record;
}

}  // namespace

MarkMatch TailscaleMark() {
  return MarkMatch{kTailscaleBypassMark, kTailscaleMarkMask};
}

static_assert(sizeof(tcp_info) >= TcpInfo::kTcpInfoCoreLength);

TcpInfo DecodeTcpInfo(std::span<const uint8_t> payload) {
  // Zero-filled, then as much as the kernel sent: a field past its length
  // reads 0 and `length` says so.
  tcp_info raw;
  std::memset(&raw, 0, sizeof raw);
  std::memcpy(&raw, payload.data(), std::min(payload.size(), sizeof raw));
  TcpInfo info;
  info.length = payload.size();
  info.state = raw.tcpi_state;
  info.ca_state = raw.tcpi_ca_state;
  info.retransmits = raw.tcpi_retransmits;
  info.probes = raw.tcpi_probes;
  info.backoff = raw.tcpi_backoff;
  info.rto_us = raw.tcpi_rto;
  info.unacked = raw.tcpi_unacked;
  info.lost = raw.tcpi_lost;
  info.retrans = raw.tcpi_retrans;
  info.last_data_sent_ms = raw.tcpi_last_data_sent;
  info.last_data_recv_ms = raw.tcpi_last_data_recv;
  info.last_ack_recv_ms = raw.tcpi_last_ack_recv;
  info.rtt_us = raw.tcpi_rtt;
  info.rttvar_us = raw.tcpi_rttvar;
  info.total_retrans = raw.tcpi_total_retrans;
  return info;
}

std::string SocketEndpoint::ToString() const {
  if (address.is_v4()) return address.ToString() + ":" + std::to_string(port);
  return "[" + address.ToString() + "]:" + std::to_string(port);
}

uint32_t ClientTcpStates() {
  uint32_t states = 0;
  for (int state : {TCP_ESTABLISHED, TCP_SYN_SENT, TCP_FIN_WAIT1, TCP_FIN_WAIT2,
                    TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_CLOSING}) {
    states |= 1u << state;
  }
  return states;
}

namespace {

// The mark filter as INET_DIAG_REQ_BYTECODE, when asked for.
void PutMarkFilter(const SockDiagQuery& query, bool kernel_filter,
                   nlmsghdr* nlh) {
  if (!kernel_filter || !query.mark) return;
  MarkFilterProgram program{};
  program.op.code = INET_DIAG_BC_MARK_COND;
  program.op.yes = sizeof program;
  program.op.no = sizeof program + 4;
  program.cond.mark = query.mark->mark;
  program.cond.mask = query.mark->mask;
  mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof program, &program);
}

// A dump request of `type` whose fixed header is a Req (both kinds have the
// states and extensions fields), filled further by `fill`, then the mark
// filter.
template <typename Req, typename Fill>
std::vector<uint8_t> DumpRequest(uint16_t type, const SockDiagQuery& query,
                                 uint32_t seq, bool kernel_filter, Fill fill) {
  alignas(nlmsghdr) uint8_t buf[256] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  auto* req = static_cast<Req*>(mnl_nlmsg_put_extra_header(nlh, sizeof(Req)));
  req->idiag_states = query.states;
  if (query.tcp_info && query.protocol == IPPROTO_TCP) {
    req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
  }
  fill(req);
  PutMarkFilter(query, kernel_filter, nlh);
  return std::vector<uint8_t>(buf, buf + nlh->nlmsg_len);
}

}  // namespace

std::vector<uint8_t> BuildSockDiagRequest(const SockDiagQuery& query,
                                          uint32_t seq, bool kernel_filter) {
  return DumpRequest<inet_diag_req_v2>(
      SOCK_DIAG_BY_FAMILY, query, seq, kernel_filter,
      [&](inet_diag_req_v2* req) {
        req->sdiag_family = static_cast<uint8_t>(ToAf(query.family));
        req->sdiag_protocol = query.protocol;
      });
}

std::vector<uint8_t> BuildTcpDiagBothFamiliesRequest(const SockDiagQuery& query,
                                                     uint32_t seq,
                                                     bool kernel_filter) {
  // The kernel ignores the family of this request's dump (AF_UNSPEC).
  return DumpRequest<inet_diag_req>(
      TCPDIAG_GETSOCK, query, seq, kernel_filter,
      [](inet_diag_req* req) { req->idiag_family = AF_INET; });
}

SockDiagChunk ParseSockDiag(std::span<const uint8_t> datagram, uint8_t protocol,
                            uint32_t seq) {
  SockDiagChunk chunk;
  chunk.parse_error = wire::ForEachMessage(
      datagram,
      [&](const nlmsghdr& header, std::span<const uint8_t> message,
          size_t offset) -> std::optional<ParseError> {
        if (header.nlmsg_seq != seq) {
          ++chunk.stale;
          return std::nullopt;
        }
        std::optional<ParseError> error;
        if (header.nlmsg_type == NLMSG_ERROR) {
          std::optional<int32_t> code = wire::ErrorCode(message);
          if (!code) {
            return ParseError{ParseErrorKind::kTruncatedPayload, offset,
                              "NLMSG_ERROR without an error code"};
          }
          chunk.done = *code != 0;  // 0 is an acknowledgement
          chunk.error = *code != 0 ? ErrnoFromNetlinkError(*code) : 0;
        } else if (header.nlmsg_type == NLMSG_DONE) {
          // A dump that failed midway ends with the errno in NLMSG_DONE.
          int32_t code = 0;
          wire::ReadAt(message, sizeof(nlmsghdr), &code);
          chunk.done = true;
          if (code < 0) chunk.error = ErrnoFromNetlinkError(code);
        } else if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY ||
                   header.nlmsg_type == TCPDIAG_GETSOCK) {
          std::optional<SocketRecord> record =
              DecodeSocket(message, protocol, offset, &error);
          if (!record) return error;
          chunk.sockets.push_back(std::move(*record));
        }
        return std::nullopt;
      });
  return chunk;
}

namespace {

class KernelChannel : public NetlinkChannel {
 public:
  explicit KernelChannel(std::chrono::milliseconds timeout)
      : socket_(RtnlSocket::Open(/*nonblocking=*/false, NETLINK_SOCK_DIAG)) {
    socket_.SetReceiveTimeout(timeout);
  }
  int Send(std::span<const uint8_t> message) override {
    try {
      socket_.Send(message);
      return 0;
    } catch (const std::system_error& e) {
      return -e.code().value();
    }
  }
  ssize_t Receive(std::span<uint8_t> buffer) override {
    return socket_.Receive(buffer);
  }

 private:
  RtnlSocket socket_;
};

}  // namespace

std::unique_ptr<NetlinkChannel> OpenSockDiagChannel(
    std::chrono::milliseconds timeout) {
  return std::make_unique<KernelChannel>(timeout);
}

SockDiag::SockDiag(std::unique_ptr<NetlinkChannel> channel, size_t max_sockets)
    : channel_(std::move(channel)), max_sockets_(max_sockets) {}

SockDump SockDiag::Dump(const SockDiagQuery& query) {
  const bool try_kernel = kernel_filter_ && query.mark.has_value();
  SockDump dump = RunOnce(query, try_kernel, false);
  // An older kernel does not know MARK_COND (EINVAL); without CAP_NET_ADMIN
  // it may not be used (EPERM). Either way the request failed as a whole.
  if (try_kernel && (dump.error == EINVAL || dump.error == EPERM)) {
    spdlog::warn(
        "sock_diag: the kernel refused the socket mark filter "
        "(INET_DIAG_BC_MARK_COND: {}); filtering by INET_DIAG_MARK in user "
        "space from now on",
        std::strerror(dump.error));
    kernel_filter_ = false;
    dump = RunOnce(query, false, false);
  }
  return dump;
}

SockDump SockDiag::DumpBothFamilies(SockDiagQuery query) {
  if (query.protocol == IPPROTO_TCP && one_walk_) {
    SockDump dump = RunOnce(query, kernel_filter_ && query.mark.has_value(),
                            /*both_families=*/true);
    // A kernel without the old TCPDIAG_GETSOCK request (no inet_diag:
    // EOPNOTSUPP), or one that refuses it or its mark bytecode (before
    // Linux 4.15: EINVAL; without CAP_NET_ADMIN: EPERM): the per-family
    // dumps find out which, and fall back as they always did.
    if (dump.error != EINVAL && dump.error != EOPNOTSUPP &&
        dump.error != ENOENT && dump.error != EPERM) {
      return dump;
    }
    spdlog::info(
        "sock_diag: the kernel refused the TCP dump of both families in one "
        "walk (TCPDIAG_GETSOCK: {}); one dump per family from now on",
        std::strerror(dump.error));
    one_walk_ = false;
  }
  SockDump all;
  for (Family family : kFamilies) {
    query.family = family;
    SockDump one = Dump(query);
    // No IPv6 in this kernel (or no inet6_diag): nothing to find there.
    if (family == Family::kV6 &&
        (one.error == EAFNOSUPPORT || one.error == ENOENT)) {
      continue;
    }
    all.sockets.insert(all.sockets.end(), one.sockets.begin(),
                       one.sockets.end());
    all.received += one.received;
    all.truncated = all.truncated || one.truncated;
    all.filtered_in_kernel = one.filtered_in_kernel;
    if (one.error != 0 && all.error == 0) {
      all.error = one.error;
      all.detail = one.detail;
    }
  }
  return all;
}

void SockDiag::Keep(const SockDiagQuery& query, SocketRecord record,
                    SockDump* dump) const {
  ++dump->received;
  // Without the kernel filter, and as a check with it.
  if (query.mark && !(record.mark && query.mark->Matches(*record.mark))) {
    return;
  }
  if (dump->sockets.size() >= max_sockets_) {
    dump->truncated = true;
    return;
  }
  dump->sockets.push_back(std::move(record));
}

namespace {

// "sock_diag dump (tcpv4)", "sock_diag dump (tcp, both families)".
std::string DumpName(const SockDiagQuery& query, bool both_families) {
  return std::string("sock_diag dump (") +
         (query.protocol == IPPROTO_UDP ? "udp" : "tcp") +
         (both_families ? std::string(", both families")
                        : std::string(FamilyName(query.family))) +
         ")";
}

}  // namespace

SockDump SockDiag::RunOnce(const SockDiagQuery& query, bool kernel_filter,
                           bool both_families) {
  SockDump dump;
  dump.filtered_in_kernel = kernel_filter && query.mark.has_value();
  const uint32_t seq = ++seq_;
  const std::string what = DumpName(query, both_families);
  auto failed = [&](int error, const std::string& detail) {
    dump.error = error;
    dump.detail = what + ": " + detail;
    return dump;
  };
  const std::vector<uint8_t> request =
      both_families ? BuildTcpDiagBothFamiliesRequest(query, seq, kernel_filter)
                    : BuildSockDiagRequest(query, seq, kernel_filter);
  if (int err = channel_->Send(request); err < 0) {
    return failed(-err, std::string("send: ") + std::strerror(-err));
  }
  // Not zero-filled: the kernel writes a few KiB of a filtered dump, and
  // heap pages never written stay out of the daemon's RSS (its datagrams
  // are at most 32 KiB: net/netlink/af_netlink.c caps max_recvmsg_len at
  // SKB_WITH_OVERHEAD(32768)).
  constexpr size_t kBufferSize = 64 * 1024;
  const auto storage = std::make_unique_for_overwrite<uint8_t[]>(kBufferSize);
  const std::span<uint8_t> buffer(storage.get(), kBufferSize);
  bool any_mark = false;
  for (;;) {
    ssize_t n = channel_->Receive(buffer);
    if (n < 0) {
      return failed(static_cast<int>(-n),
                    n == -EAGAIN ? std::string("timed out")
                                 : std::string("receive: ") +
                                       std::strerror(static_cast<int>(-n)));
    }
    SockDiagChunk chunk = ParseSockDiag(
        std::span(buffer).first(static_cast<size_t>(n)), query.protocol, seq);
    for (SocketRecord& record : chunk.sockets) {
      any_mark = any_mark || record.mark.has_value();
      Keep(query, std::move(record), &dump);
    }
    if (chunk.parse_error) {
      // The rest of the dump cannot be trusted; the socket may still hold
      // parts of it, which the next dump skips by sequence number.
      return failed(EPROTO, chunk.parse_error->ToString());
    }
    if (chunk.error != 0) {
      return failed(chunk.error, std::strerror(chunk.error));
    }
    if (!chunk.done) continue;
    // INET_DIAG_MARK comes only to CAP_NET_ADMIN: without it, a user-space
    // filter would silently find nothing.
    if (query.mark && !dump.filtered_in_kernel && dump.received > 0 &&
        !any_mark) {
      return failed(EPERM,
                    "the kernel sent no socket marks (INET_DIAG_MARK needs "
                    "CAP_NET_ADMIN)");
    }
    return dump;
  }
}

}  // namespace netlink
