// tailscaled's TCP and UDP sockets as the kernel sees them, over
// NETLINK_SOCK_DIAG (inet_diag): addresses, state, mark, owner, inode and, for
// TCP, struct tcp_info (unanswered keep-alive probes, retransmissions, the
// time since data last arrived). Nothing is sent to the network.
//
// Three layers, like the rtnetlink code: a request builder and a parser that
// are pure functions over bytes (bounds-checked; bad input is an error value),
// and SockDiag, which runs one dump over a NetlinkChannel (the kernel seam).
//
// The mark filter runs in the kernel (inet_diag bytecode
// INET_DIAG_BC_MARK_COND, Linux 4.15, "net: diag: allow socket bytecode
// filters to match socket marks"), so a host with 100,000 sockets sends us only
// tailscaled's. A kernel that refuses the bytecode (older: EINVAL; no
// CAP_NET_ADMIN: EPERM) gets the whole dump, filtered here by INET_DIAG_MARK;
// SockDiag logs that once and keeps doing so.
#ifndef TSWATCHDOG_NETLINK_SOCK_DIAG_H_
#define TSWATCHDOG_NETLINK_SOCK_DIAG_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlink/address.h"
#include "netlink/messages.h"

namespace netlink {

// IP protocols and TCP states as the kernel numbers them (sock_diag.cc
// checks them against <netinet/in.h> and <netinet/tcp.h>).
inline constexpr uint8_t kIpProtocolTcp = 6;   // IPPROTO_TCP
inline constexpr uint8_t kIpProtocolUdp = 17;  // IPPROTO_UDP
enum TcpState : uint8_t {
  kTcpEstablished = 1,
  kTcpSynSent,
  kTcpSynRecv,
  kTcpFinWait1,
  kTcpFinWait2,
  kTcpTimeWait,
  kTcpClose,
  kTcpCloseWait,
  kTcpLastAck,
  kTcpListen,
  kTcpClosing,
};

// tailscaled's own rules match its sockets' mark under this mask
// (wgengine/router/osrouter/router_linux.go: fwmark 0x80000/0xff0000).
inline constexpr uint32_t kTailscaleMarkMask = 0xff0000;

struct MarkMatch {
  uint32_t mark = 0;
  uint32_t mask = 0xffffffff;
  bool Matches(uint32_t value) const { return (value & mask) == mark; }
  bool operator==(const MarkMatch&) const = default;
};

// tailscaled's mark (net/netns/netns_linux.go: SO_MARK 0x80000).
MarkMatch TailscaleMark();

// The fields of struct tcp_info we read. A kernel may send a shorter struct
// than <linux/tcp.h> describes (or a longer one): `length` is what it sent,
// and a field it did not cover reads 0. Every field here is in the struct
// since Linux 2.6 (kTcpInfoCoreLength bytes).
struct TcpInfo {
  static constexpr size_t kTcpInfoCoreLength = 104;  // up to tcpi_total_retrans

  size_t length = 0;
  uint8_t state = 0;
  uint8_t ca_state = 0;
  uint8_t retransmits = 0;  // unrecovered RTO timeouts of the oldest segment
  uint8_t probes = 0;       // keep-alive (or zero-window) probes unanswered
  uint8_t backoff = 0;      // RTO exponential backoff
  uint32_t rto_us = 0;
  uint32_t unacked = 0;  // segments sent, not yet acknowledged
  uint32_t lost = 0;
  uint32_t retrans = 0;  // segments retransmitted and not yet acknowledged
  uint32_t last_data_sent_ms = 0;
  uint32_t last_data_recv_ms = 0;
  uint32_t last_ack_recv_ms = 0;
  uint32_t rtt_us = 0;
  uint32_t rttvar_us = 0;
  uint32_t total_retrans = 0;

  bool complete() const { return length >= kTcpInfoCoreLength; }
  bool operator==(const TcpInfo&) const = default;
};

// Decodes INET_DIAG_INFO's payload (pure, any length).
TcpInfo DecodeTcpInfo(std::span<const uint8_t> payload);

struct SocketEndpoint {
  IpAddress address;
  uint16_t port = 0;
  std::string ToString() const;  // 192.0.2.1:80, [2001:db8::1]:443
  bool operator==(const SocketEndpoint&) const = default;
};

// One socket of a dump.
struct SocketRecord {
  Family family = Family::kV4;
  uint8_t protocol = 0;  // IPPROTO_TCP / IPPROTO_UDP (from the request)
  uint8_t state = 0;     // TCP_ESTABLISHED, ... (TCP_CLOSE: unconnected UDP)
  SocketEndpoint local;
  SocketEndpoint remote;
  uint32_t bound_ifindex = 0;  // SO_BINDTODEVICE, 0 if unbound
  uint64_t cookie = 0;
  uint32_t uid = 0;
  uint64_t inode = 0;  // as in /proc/<pid>/fd: "socket:[inode]"
  uint8_t timer = 0;   // 1 retransmit, 2 keep-alive, 4 zero-window probe
  uint8_t timer_retries = 0;
  uint32_t timer_expires_ms = 0;
  std::optional<uint32_t> mark;     // INET_DIAG_MARK (needs CAP_NET_ADMIN)
  std::optional<TcpInfo> tcp_info;  // INET_DIAG_INFO (TCP)
  bool operator==(const SocketRecord&) const = default;
};

// Every TCP state but LISTEN and the server-side SYN_RECV/NEW_SYN_RECV and
// TIME_WAIT: the client connections tailscaled dials.
uint32_t ClientTcpStates();
inline constexpr uint32_t kAllStates = 0xffffffff;

struct SockDiagQuery {
  Family family = Family::kV4;
  uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
  uint32_t states = kAllStates;
  std::optional<MarkMatch> mark;
  bool tcp_info = true;  // ask for INET_DIAG_INFO (TCP only)
};

// An SOCK_DIAG_BY_FAMILY dump request; with `kernel_filter` the mark filter
// goes in as INET_DIAG_BC_MARK_COND bytecode, without it the request has none.
std::vector<uint8_t> BuildSockDiagRequest(const SockDiagQuery& query,
                                          uint32_t seq, bool kernel_filter);

// The same for TCP, both families in one dump: the old TCPDIAG_GETSOCK
// request (struct inet_diag_req), whose dump the kernel runs with family
// AF_UNSPEC (net/ipv4/inet_diag.c, inet_diag_dump_compat). Both families'
// TCP sockets live in one hash table, which a dump walks whole, visiting
// every socket of the host: one walk instead of two halves the cost of a
// check on a host with many sockets (README, benchmark 6).
std::vector<uint8_t> BuildTcpDiagBothFamiliesRequest(const SockDiagQuery& query,
                                                     uint32_t seq,
                                                     bool kernel_filter);

// What one datagram of a dump held. Messages of another sequence number
// (replies to an earlier, abandoned dump) are skipped and counted.
struct SockDiagChunk {
  std::vector<SocketRecord> sockets;
  bool done = false;  // NLMSG_DONE (or an error) ended the dump
  int error = 0;      // errno from NLMSG_ERROR (or a negative NLMSG_DONE)
  std::optional<ParseError> parse_error;
  size_t stale = 0;
};

// Parses one datagram of replies to request `seq` for `protocol` (pure):
// SOCK_DIAG_BY_FAMILY or, for the dump of both families, TCPDIAG_GETSOCK.
SockDiagChunk ParseSockDiag(std::span<const uint8_t> datagram, uint8_t protocol,
                            uint32_t seq);

// The kernel seam: a NETLINK_SOCK_DIAG socket, or a fake in tests.
class NetlinkChannel {
 public:
  virtual ~NetlinkChannel() = default;
  // 0 or a negative errno.
  virtual int Send(std::span<const uint8_t> message) = 0;
  // One datagram's size, or a negative errno (-EAGAIN on timeout).
  virtual ssize_t Receive(std::span<uint8_t> buffer) = 0;
};

// The daemon's receive timeout for a dump. A dump is one blocking exchange
// with the kernel; it never takes this long unless the kernel is in trouble
// (100,000 sockets: ~65 ms, README benchmark 6).
inline constexpr std::chrono::milliseconds kSockDiagDumpTimeout{2000};

// A blocking NETLINK_SOCK_DIAG socket whose receives time out after
// `timeout`. Throws std::system_error (errno and context) when it cannot be
// opened.
std::unique_ptr<NetlinkChannel> OpenSockDiagChannel(
    std::chrono::milliseconds timeout);

struct SockDump {
  std::vector<SocketRecord> sockets;
  int error = 0;       // errno of a failed dump (sockets then incomplete)
  std::string detail;  // what failed, for the log
  bool filtered_in_kernel = false;
  size_t received = 0;     // records the kernel sent (before our filter)
  bool truncated = false;  // more than max_sockets matched; the rest dropped
};

// Runs dumps over a channel, one at a time (blocking, bounded by the
// channel's timeout and max_sockets).
class SockDiag {
 public:
  static constexpr size_t kDefaultMaxSockets = 4096;

  explicit SockDiag(std::unique_ptr<NetlinkChannel> channel,
                    size_t max_sockets = kDefaultMaxSockets);

  SockDump Dump(const SockDiagQuery& query);
  // Both families; an address family the kernel does not support (IPv6
  // disabled) is no error. TCP: in one dump (one walk of the kernel's
  // socket table) unless the kernel refused that once, then one per family.
  SockDump DumpBothFamilies(SockDiagQuery query);

  // False once the kernel refused the mark bytecode.
  bool kernel_filter() const { return kernel_filter_; }
  // False once the kernel refused the TCP dump of both families in one.
  bool one_walk() const { return one_walk_; }
  // As if the kernel had refused it (tests of the user-space filter).
  void DisableKernelFilterForTesting() { kernel_filter_ = false; }
  // As if the kernel had refused the one-walk dump (benchmark 6).
  void DisableOneWalkForTesting() { one_walk_ = false; }

 private:
  SockDump RunOnce(const SockDiagQuery& query, bool kernel_filter,
                   bool both_families);
  // Counts `record` and keeps it if it matches the query and fits.
  void Keep(const SockDiagQuery& query, SocketRecord record,
            SockDump* dump) const;

  std::unique_ptr<NetlinkChannel> channel_;
  size_t max_sockets_;
  uint32_t seq_ = 0;
  bool kernel_filter_ = true;
  bool one_walk_ = true;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_SOCK_DIAG_H_
