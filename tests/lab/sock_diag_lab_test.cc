// sock_diag and the connection verdict on the real kernel: marked TCP
// connections among unmarked ones, thousands of sockets, the /proc fd
// fallback, and a connection whose path dies silently going live -> suspect
// -> dead from real tcp_info.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "netlink/proc_sockets.h"
#include "netlink/sock_diag.h"
#include "netlink/unique_fd.h"
#include "netlink/watcher.h"
#include "tests/lab/lab.h"
#include "tests/lab/world.h"
#include "watchdog/core/connection_verdict.h"

namespace {

using netlink::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A listener on `ip`:`port` (port 0: any; v4 or v6), in this namespace.
UniqueFd Listen(const char* ip, uint16_t port) {
  const bool v6 = std::string(ip).find(':') != std::string::npos;
  const int af = v6 ? AF_INET6 : AF_INET;
  UniqueFd fd(socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage addr{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    len = sizeof *a;
  }
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd.get(), 4096) != 0) {
    ADD_FAILURE() << "listen on " << ip << ": " << strerror(errno);
    return UniqueFd();
  }
  return fd;
}

sockaddr_storage LocalAddress(int fd, socklen_t* len) {
  sockaddr_storage addr{};
  *len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), len);
  return addr;
}

uint16_t LocalPort(int fd) {
  socklen_t len;
  sockaddr_storage addr = LocalAddress(fd, &len);
  return ntohs(addr.ss_family == AF_INET
                   ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                   : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
}

// A connection to `listener` (accepted); returns the client end. `mark` 0:
// unmarked. The accepted end goes to `server_ends`.
UniqueFd Connect(int listener, uint32_t mark,
                 std::vector<UniqueFd>* server_ends) {
  socklen_t len;
  sockaddr_storage addr = LocalAddress(listener, &len);
  UniqueFd fd(socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (mark != 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    ADD_FAILURE() << "SO_MARK: " << strerror(errno);
  }
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ADD_FAILURE() << "connect: " << strerror(errno);
  }
  server_ends->emplace_back(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  return fd;
}

netlink::SockDiagQuery TailscaleTcp() {
  return {netlink::Family::kV4, IPPROTO_TCP, netlink::ClientTcpStates(),
          netlink::TailscaleMark(), true};
}

std::set<uint16_t> LocalPorts(const std::vector<netlink::SocketRecord>& s) {
  std::set<uint16_t> ports;
  for (const auto& record : s) ports.insert(record.local.port);
  return ports;
}

bool KernelHasMarkCond() {
  utsname u{};
  uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  return major > 4 || (major == 4 && minor >= 15);
}

// Raises the soft fd limit as far as the hard one allows (raising the hard
// one needs CAP_SYS_RESOURCE, which a container may not grant).
void RaiseFdLimit(rlim_t want) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= want) return;
  limit.rlim_cur = std::min(want, limit.rlim_max);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0) << strerror(errno);
  ASSERT_GE(limit.rlim_cur, want) << "the hard limit on open files is too low";
}

TEST(SockDiagLab, FindsExactlyTheMarkedSockets) {
  LAB_ENTER_NETNS_OR_SKIP();
  UniqueFd v4 = Listen("127.0.0.1", 0);
  UniqueFd v6 = Listen("::1", 0);
  std::vector<UniqueFd> keep;
  std::set<uint16_t> marked;
  for (uint32_t mark : {0x80000u, 0u, 0x80001u, 0x100u, 0x90000u, 0u}) {
    UniqueFd a = Connect(v4.get(), mark, &keep);
    UniqueFd b = Connect(v6.get(), mark, &keep);
    if ((mark & 0xff0000) == 0x80000) {
      marked.insert(LocalPort(a.get()));
      marked.insert(LocalPort(b.get()));
    }
    keep.push_back(std::move(a));
    keep.push_back(std::move(b));
  }
  ASSERT_EQ(marked.size(), 4u);

  netlink::SockDiag diag(netlink::OpenSockDiagChannel(milliseconds(2000)));
  netlink::SockDump dump = diag.DumpBothFamilies(TailscaleTcp());
  ASSERT_EQ(dump.error, 0) << dump.detail;
  std::printf("this kernel %s the mark filter bytecode\n",
              diag.kernel_filter() ? "accepts" : "refuses");
  if (KernelHasMarkCond()) {
    EXPECT_TRUE(dump.filtered_in_kernel);
  }
  EXPECT_EQ(LocalPorts(dump.sockets), marked);
  for (const netlink::SocketRecord& s : dump.sockets) {
    EXPECT_EQ(s.mark.value_or(0) & 0xff0000, 0x80000u);
    ASSERT_TRUE(s.tcp_info);
    EXPECT_TRUE(s.tcp_info->complete()) << s.tcp_info->length;
    EXPECT_EQ(s.state, TCP_ESTABLISHED);
    EXPECT_NE(s.inode, 0u);
  }

  // Both families came in one walk of the socket table (TCPDIAG_GETSOCK):
  // the same sockets as one dump per family.
  EXPECT_TRUE(diag.one_walk());
  netlink::SockDiag per_family(
      netlink::OpenSockDiagChannel(milliseconds(2000)));
  per_family.DisableOneWalkForTesting();
  netlink::SockDump two = per_family.DumpBothFamilies(TailscaleTcp());
  ASSERT_EQ(two.error, 0) << two.detail;
  EXPECT_EQ(LocalPorts(two.sockets), marked);
  EXPECT_EQ(two.sockets.size(), dump.sockets.size());

  // The user-space filter finds the same ones in the whole dump.
  netlink::SockDiag fallback(netlink::OpenSockDiagChannel(milliseconds(2000)));
  fallback.DisableKernelFilterForTesting();
  netlink::SockDump slow = fallback.DumpBothFamilies(TailscaleTcp());
  ASSERT_EQ(slow.error, 0) << slow.detail;
  EXPECT_FALSE(slow.filtered_in_kernel);
  EXPECT_TRUE(fallback.one_walk());
  EXPECT_EQ(LocalPorts(slow.sockets), marked);
  EXPECT_GE(slow.received, keep.size());  // every socket came up
}

TEST(SockDiagLab, TheProcFdFallbackFindsTheSameSocketByInode) {
  LAB_ENTER_NETNS_OR_SKIP();
  UniqueFd listener = Listen("127.0.0.1", 0);
  std::vector<UniqueFd> keep;
  UniqueFd client = Connect(listener.get(), 0x80000, &keep);
  struct stat st {};
  ASSERT_EQ(fstat(client.get(), &st), 0);

  netlink::SockDiag diag(netlink::OpenSockDiagChannel(milliseconds(2000)));
  netlink::SockDump marked = diag.Dump(TailscaleTcp());
  ASSERT_EQ(marked.error, 0) << marked.detail;
  ASSERT_EQ(marked.sockets.size(), 1u);
  EXPECT_EQ(marked.sockets[0].inode, st.st_ino);

  // Unmarked sockets (userspace networking): all of them, kept by inode.
  netlink::SockDiagQuery all = TailscaleTcp();
  all.mark.reset();
  netlink::SockDump everything = diag.Dump(all);
  ASSERT_EQ(everything.error, 0) << everything.detail;
  netlink::SocketInodes ours = netlink::SocketInodesOfProcess(getpid());
  ASSERT_EQ(ours.error, 0) << ours.path;
  std::vector<netlink::SocketRecord> found =
      netlink::KeepInodes(everything.sockets, ours.inodes);
  auto it = std::find_if(found.begin(), found.end(),
                         [&](const auto& s) { return s.inode == st.st_ino; });
  ASSERT_NE(it, found.end());
  EXPECT_EQ(it->local.port, LocalPort(client.get()));
  EXPECT_EQ(found.size(), 2u);  // the client and the accepted end
}

TEST(SockDiagLab, ThousandsOfSocketsStillQuick) {
  LAB_ENTER_NETNS_OR_SKIP();
  // 5,000 connections: 10,000 sockets, both ends on this host.
  constexpr int kUnmarked = 5000;
  RaiseFdLimit(2 * kUnmarked + 100);
  UniqueFd listener = Listen("127.0.0.1", 0);
  std::vector<UniqueFd> keep;
  keep.reserve(2 * kUnmarked + 10);
  std::set<uint16_t> marked;
  for (int i = 0; i < kUnmarked; ++i) {
    keep.push_back(Connect(listener.get(), 0, &keep));
    if (i % 2500 == 0) {
      UniqueFd m = Connect(listener.get(), 0x80000, &keep);
      marked.insert(LocalPort(m.get()));
      keep.push_back(std::move(m));
    }
  }
  auto timed = [&](bool kernel) {
    netlink::SockDiag diag(netlink::OpenSockDiagChannel(milliseconds(5000)));
    if (!kernel) diag.DisableKernelFilterForTesting();
    const auto start = steady_clock::now();
    netlink::SockDump dump = diag.Dump(TailscaleTcp());
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        steady_clock::now() - start);
    EXPECT_EQ(dump.error, 0) << dump.detail;
    EXPECT_EQ(LocalPorts(dump.sockets), marked);
    std::printf("%zu TCP sockets, %s filter: %zu sent to us, %.2f ms\n",
                keep.size() + 1, kernel ? "kernel" : "user-space",
                dump.received, took.count() / 1000.0);
    return took;
  };
  const auto kernel = timed(true);
  timed(false);
  // Sanitizers, a loaded machine: generous, but far below a hung dump.
  EXPECT_LT(kernel, milliseconds(2000));
}

// A client connection with tailscaled's mark and keep-alive scaled down 15
// times (first probe after 2 s without a received segment, then every 2 s:
// tailscaled's interval is no longer than its 30 s idle time either), to a
// server in another namespace at 198.51.100.10:80 across a veth.
class DyingPathLab : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    far_ = std::make_unique<lab::Netns>();
    LAB_RUN("ip link add tsw0 type veth peer name far0 netns " +
            std::to_string(far_->pid()) +
            "\nip addr add 198.51.100.2/24 dev tsw0\nip link set tsw0 up");
    ASSERT_EQ(far_->Sh("ip addr add 198.51.100.10/24 dev far0\n"
                       "ip link set far0 up"),
              0);
    listener_ = lab::ListenIn(*far_, "198.51.100.10", 80);
    ASSERT_TRUE(listener_.valid());
    client_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int mark = 0x80000, on = 1, idle = 2, interval = 2, count = 9;
    setsockopt(client_.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    setsockopt(client_.get(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(client_.get(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(client_.get(), IPPROTO_TCP, TCP_KEEPINTVL, &interval,
               sizeof interval);
    setsockopt(client_.get(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(80);
    inet_pton(AF_INET, "198.51.100.10", &server.sin_addr);
    ASSERT_EQ(connect(client_.get(), reinterpret_cast<sockaddr*>(&server),
                      sizeof server),
              0)
        << strerror(errno);
    server_ = UniqueFd(accept4(listener_.get(), nullptr, nullptr, 0));
    ASSERT_TRUE(server_.valid());
    // Some data each way, like a map response and a request.
    ASSERT_EQ(write(server_.get(), "m", 1), 1);
    char c;
    ASSERT_EQ(read(client_.get(), &c, 1), 1);
    port_ = LocalPort(client_.get());
    diag_ = std::make_unique<netlink::SockDiag>(
        netlink::OpenSockDiagChannel(milliseconds(2000)));
    watcher_ = std::make_unique<netlink::Watcher>();
  }

  // The verdict on our connection now, from a fresh dump.
  watchdog::ConnectionVerdict Judge() {
    netlink::SockDump dump = diag_->Dump(TailscaleTcp());
    EXPECT_EQ(dump.error, 0) << dump.detail;
    auto conns = watchdog::ClassifyConnections(dump.sockets, {});
    for (const watchdog::ClassifiedConnection& c : conns) {
      if (c.socket.local.port != port_) continue;
      EXPECT_EQ(c.kind, watchdog::ConnectionKind::kControl);
      // The host's view too: the local address is on tsw0, and the route to
      // the server still leaves by tsw0 from it (no sign).
      watchdog::ConnectionFacts facts = watchdog::FactsFromModel(
          c, watcher_->model(), watcher_->RouteTo(c.socket.remote.address));
      EXPECT_EQ(facts.local_dev, "tsw0");
      EXPECT_EQ(facts.route_now.value_or(netlink::Egress{}).dev, "tsw0");
      return watchdog::JudgeConnection(facts, thresholds_);
    }
    ADD_FAILURE() << "our connection is not in the dump";
    return {};
  }

  // Polls the verdict until `want` or the deadline; returns every verdict
  // seen, in order, without repeats.
  std::vector<watchdog::ConnectionVerdict> WatchUntil(watchdog::Verdict want,
                                                      milliseconds deadline) {
    std::vector<watchdog::ConnectionVerdict> seen;
    const auto end = steady_clock::now() + deadline;
    while (steady_clock::now() < end) {
      watchdog::ConnectionVerdict v = Judge();
      if (seen.empty() || seen.back().verdict != v.verdict) seen.push_back(v);
      if (v.verdict == want) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return seen;
  }

  // Drops everything arriving at the server: no RST, no ICMP.
  bool CutThePathSilently() {
    return far_->Sh(
               "nft 'table inet lab { chain in { type filter hook "
               "input priority 0; policy drop; }; }'") == 0;
  }

  // tailscaled's thresholds with its keep-alive scaled down (2 s); the
  // server here sends no keep-alives of its own, so no data silence.
  watchdog::VerdictThresholds thresholds_ = [] {
    watchdog::VerdictThresholds t;
    t.keepalive_idle = milliseconds(2000);
    t.answer_grace = milliseconds(500);
    t.data_silence = milliseconds(3600 * 1000);
    return t;
  }();
  std::unique_ptr<lab::Netns> far_;
  UniqueFd listener_, client_, server_;
  uint16_t port_ = 0;
  std::unique_ptr<netlink::SockDiag> diag_;
  std::unique_ptr<netlink::Watcher> watcher_;
};

std::string Trail(const std::vector<watchdog::ConnectionVerdict>& seen) {
  std::string out;
  for (const auto& v : seen) {
    out += std::string(watchdog::VerdictName(v.verdict)) + " (" + v.evidence +
           ")\n";
  }
  return out;
}

TEST_F(DyingPathLab, KeepAliveProbesTurnItSuspectThenDead) {
  if (IsSkipped()) return;
  // Healthy and idle for two keep-alive rounds: probes go out and are
  // answered; never suspect.
  std::vector<watchdog::ConnectionVerdict> healthy =
      WatchUntil(watchdog::Verdict::kSuspect, milliseconds(4500));
  ASSERT_EQ(healthy.size(), 1u) << Trail(healthy);
  EXPECT_EQ(healthy[0].verdict, watchdog::Verdict::kLive) << Trail(healthy);

  ASSERT_TRUE(CutThePathSilently());
  std::vector<watchdog::ConnectionVerdict> seen =
      WatchUntil(watchdog::Verdict::kDead, milliseconds(20000));
  std::printf("%s", Trail(seen).c_str());
  ASSERT_EQ(seen.size(), 3u) << Trail(seen);
  EXPECT_EQ(seen[0].verdict, watchdog::Verdict::kLive);
  EXPECT_EQ(seen[1].verdict, watchdog::Verdict::kSuspect);
  EXPECT_EQ(seen[2].verdict, watchdog::Verdict::kDead);
  EXPECT_NE(seen[2].evidence.find("2 keep-alive probes unanswered"),
            std::string::npos)
      << seen[2].evidence;
  EXPECT_EQ(seen[2].evidence.rfind("control 198.51.100.2:", 0), 0u);
}

TEST_F(DyingPathLab, AWriteOnADeadPathIsDeadWithinSeconds) {
  if (IsSkipped()) return;
  ASSERT_TRUE(CutThePathSilently());
  // What a soft kick makes tailscaled do: send on its connections.
  ASSERT_EQ(write(client_.get(), "request", 7), 7);
  const auto start = steady_clock::now();
  std::vector<watchdog::ConnectionVerdict> seen =
      WatchUntil(watchdog::Verdict::kDead, milliseconds(15000));
  const auto took =
      std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  std::printf("%sdead %lld ms after the write\n", Trail(seen).c_str(),
              static_cast<long long>(took.count()));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().verdict, watchdog::Verdict::kDead) << Trail(seen);
  EXPECT_NE(seen.back().evidence.find("retransmissions unanswered"),
            std::string::npos)
      << seen.back().evidence;
}

// A silent next-hop failover: the route to the server moves to another link
// while the connection keeps its address. The kernel's view says so before
// any packet is lost.
TEST_F(DyingPathLab, ARouteThatNowLeavesElsewhereIsSuspect) {
  if (IsSkipped()) return;
  LAB_RUN("ip link add tsw1 type veth peer name far1 netns " +
          std::to_string(far_->pid()) +
          "\nip addr add 203.0.113.2/24 dev tsw1\nip link set tsw1 up");
  ASSERT_EQ(far_->Sh("ip addr add 203.0.113.1/24 dev far1\n"
                     "ip link set far1 up"),
            0);
  LAB_RUN("ip route add 198.51.100.10/32 via 203.0.113.1 dev tsw1");
  watcher_->Resync("test");
  netlink::SockDump dump = diag_->Dump(TailscaleTcp());
  ASSERT_EQ(dump.error, 0) << dump.detail;
  auto conns = watchdog::ClassifyConnections(dump.sockets, {});
  ASSERT_EQ(conns.size(), 1u);
  watchdog::ConnectionFacts facts = watchdog::FactsFromModel(
      conns[0], watcher_->model(),
      watcher_->RouteTo(conns[0].socket.remote.address));
  watchdog::ConnectionVerdict v = watchdog::JudgeConnection(facts, thresholds_);
  EXPECT_EQ(v.verdict, watchdog::Verdict::kSuspect) << v.evidence;
  EXPECT_NE(v.evidence.find("the route to 198.51.100.10 now leaves by tsw1, "
                            "not by the socket's tsw0"),
            std::string::npos)
      << v.evidence;
}

}  // namespace
