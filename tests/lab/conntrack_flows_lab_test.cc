// Mode B's cleanup on the real kernel: tailscaled's flows (found by
// sock_diag through its sockets' mark) whose conntrack entries carry the dead
// WAN's mwan3 mark are deleted; its flows on the live WAN and other
// programs' flows on the dead one stay. Marks are set the way mwan3 leaves
// them, per flow, with nft `ct mark set`.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <memory>

#include "netlink/conntrack.h"
#include "netlink/sock_diag.h"
#include "netlink/unique_fd.h"
#include "tests/lab/lab.h"
#include "tests/lab/world.h"
#include "watchdog/core/mwan3.h"

namespace {

using netlink::UniqueFd;

sockaddr_in Addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// A UDP socket on 0.0.0.0:port (like magicsock's), optionally marked, that
// sends one datagram to each destination.
UniqueFd Udp(uint16_t port, uint32_t mark, std::vector<const char*> dsts) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (mark) setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  sockaddr_in local = Addr("0.0.0.0", port);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local),
            0);
  for (const char* dst : dsts) {
    sockaddr_in to = Addr(dst, 3478);
    EXPECT_EQ(sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof to),
              1);
  }
  return fd;
}

int Count(const std::string& filter) {
  return lab::ConntrackCount("-p " + filter);
}

TEST(ConntrackFlowsLab, ModeBDeletesOnlyTailscaledsFlowsOnTheDeadWan) {
  LAB_ENTER_NETNS_OR_SKIP();
  if (lab::Sh("command -v conntrack nft >/dev/null") != 0) {
    GTEST_SKIP() << "needs conntrack-tools and nftables";
  }
  lab::Netns far;
  LAB_RUN("ip link add wan0 type veth peer name isp0 netns " +
          std::to_string(far.pid()) +
          "\nip addr add 198.51.100.2/24 dev wan0\nip link set wan0 up");
  ASSERT_EQ(far.Sh("ip addr add 198.51.100.10/24 dev isp0\n"
                   "ip addr add 198.51.100.11/24 dev isp0\n"
                   "ip link set isp0 up"),
            0);
  // What mwan3 leaves in the ct marks: WAN 1 (dead) is 0x100, WAN 2 0x200.
  LAB_RUN(
      "nft 'table inet lab { chain out { type filter hook output priority 0; "
      "udp sport { 41641, 5000 } ct mark set 0x100; "
      "udp sport 41642 ct mark set 0x200; "
      "tcp dport 80 ct mark set 0x100; }; }'");
  UniqueFd magicsock = Udp(41641, 0x80000, {"198.51.100.10", "198.51.100.11"});
  UniqueFd magicsock_live = Udp(41642, 0x80000, {"198.51.100.10"});
  UniqueFd someone_else = Udp(5000, 0, {"198.51.100.10"});
  // tailscaled's control connection to a server on the far side.
  UniqueFd listener = lab::ListenIn(far, "198.51.100.10", 80);
  ASSERT_TRUE(listener.valid());
  sockaddr_in server = Addr("198.51.100.10", 80);
  UniqueFd control(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const uint32_t mark = 0x80000;
  setsockopt(control.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  ASSERT_EQ(connect(control.get(), reinterpret_cast<sockaddr*>(&server),
                    sizeof server),
            0);
  UniqueFd accepted(accept(listener.get(), nullptr, nullptr));
  ASSERT_EQ(Count("udp --sport 41641"), 2);
  ASSERT_EQ(Count("udp --sport 41642"), 1);
  ASSERT_EQ(Count("udp --sport 5000"), 1);
  ASSERT_EQ(Count("tcp --dport 80"), 1);

  // tailscaled's sockets, by mark; their flows.
  netlink::SockDiag diag(
      netlink::OpenSockDiagChannel(std::chrono::milliseconds(2000)));
  std::vector<netlink::SocketRecord> sockets;
  for (uint8_t protocol : {uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_TCP}}) {
    netlink::SockDump dump = diag.DumpBothFamilies(
        {netlink::Family::kV4, protocol, netlink::kAllStates,
         netlink::TailscaleMark(), protocol == IPPROTO_TCP});
    ASSERT_EQ(dump.error, 0) << dump.detail;
    sockets.insert(sockets.end(), dump.sockets.begin(), dump.sockets.end());
  }
  std::vector<netlink::FlowSelector> flows = netlink::FlowsOfSockets(sockets);
  ASSERT_EQ(flows.size(), 3u);  // 41641, 41642, the control connection
  const netlink::CtMarkMatch dead{watchdog::Mwan3IdToMark(1, 0x3f00), 0x3f00};

  netlink::ConntrackOptions dry;
  dry.dry_run = true;
  netlink::ConntrackResult counted =
      netlink::DeleteConntrackFlows(flows, dead, dry);
  ASSERT_EQ(counted.error, "");
  EXPECT_EQ(counted.total_matched(), 3u);
  EXPECT_EQ(counted.total_deleted(), 0u);
  EXPECT_EQ(Count("udp --sport 41641"), 2);

  netlink::ConntrackResult result =
      netlink::DeleteConntrackFlows(flows, dead, {});
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.total_deleted(), 3u);
  EXPECT_EQ(result.failed, 0u) << result.failure;
  std::printf("mode B: %zu entries read, %zu deleted in %lld us\n",
              result.examined, result.total_deleted(),
              static_cast<long long>(result.took.count()));
  EXPECT_EQ(Count("udp --sport 41641"), 0);
  EXPECT_EQ(Count("tcp --dport 80"), 0);
  EXPECT_EQ(Count("udp --sport 41642"), 1);  // tailscaled, live WAN
  EXPECT_EQ(Count("udp --sport 5000"), 1);   // not tailscaled's
}

}  // namespace
