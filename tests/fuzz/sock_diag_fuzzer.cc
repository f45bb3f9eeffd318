// libFuzzer target: one sock_diag datagram (what a NETLINK_SOCK_DIAG read
// returns) through netlink::ParseSockDiag for TCP and UDP, then every record
// through the connection classifier and verdict, as the daemon does.
// Invariants that must hold for any input abort the run when violated.
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "netlink/sock_diag.h"
#include "watchdog/core/connection_verdict.h"
#include "watchdog/core/connections.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

uint32_t SeqOf(std::span<const uint8_t> input) {
  nlmsghdr header{};
  if (input.size() >= sizeof header) {
    std::memcpy(&header, input.data(), sizeof header);
  }
  return header.nlmsg_seq;
}

void CheckChunk(std::span<const uint8_t> input, uint8_t protocol,
                const netlink::SockDiagChunk& chunk) {
  if (chunk.parse_error) {
    Check(chunk.parse_error->offset < input.size());
    Check(!chunk.parse_error->ToString().empty());
  }
  Check(chunk.error >= 0 && chunk.error <= 4095);
  for (const netlink::SocketRecord& s : chunk.sockets) {
    Check(s.protocol == protocol);
    Check(s.local.address.family() == s.family);
    Check(s.remote.address.family() == s.family);
    if (s.tcp_info) Check(protocol == IPPROTO_TCP);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  const uint32_t seq = SeqOf(input);
  for (uint8_t protocol : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
    netlink::SockDiagChunk chunk = netlink::ParseSockDiag(input, protocol, seq);
    CheckChunk(input, protocol, chunk);

    // The parser copies what it reads: a misaligned copy parses the same.
    std::vector<uint8_t> shifted(size + 1);
    if (size) std::memcpy(shifted.data() + 1, data, size);
    netlink::SockDiagChunk again =
        netlink::ParseSockDiag(std::span(shifted).subspan(1), protocol, seq);
    Check(again.sockets == chunk.sockets);
    Check(again.done == chunk.done && again.error == chunk.error);
    Check(again.parse_error.has_value() == chunk.parse_error.has_value());

    const std::vector<watchdog::ClassifiedConnection> connections =
        watchdog::ClassifyConnections(chunk.sockets, {});
    Check(connections.size() == chunk.sockets.size());
    for (const watchdog::ClassifiedConnection& c : connections) {
      watchdog::ConnectionFacts facts{c, true, "wan0", std::nullopt};
      const watchdog::ConnectionVerdict v =
          watchdog::JudgeConnection(facts, watchdog::VerdictThresholds{});
      Check(!v.evidence.empty());
      Check(watchdog::VerdictName(v.verdict) != nullptr);
    }
  }
  // Any bytes are a tcp_info of some length.
  const netlink::TcpInfo info = netlink::DecodeTcpInfo(input);
  Check(info.length == size);
  return 0;
}
