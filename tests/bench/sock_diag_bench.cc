// Benchmark 6: what one connection check costs (netlink::SockDiag, the dump
// of tailscaled's marked TCP sockets with tcp_info) on a host with N TCP
// sockets, with the mark filter in the kernel and, for comparison, in user
// space (a kernel that refuses the bytecode). Prints CPU (process CPU time:
// the kernel's work runs in our recvmsg calls) and wall time per check.
//
// Each N runs in a child process in a network namespace of its own, so the
// sockets (and the namespace) vanish with it. The sockets are held by helper
// processes of up to kPerHolder connections each (both ends of each
// connection are on this host), because one process's fd limit is too low
// for 100,000 without CAP_SYS_RESOURCE.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "netlink/sock_diag.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPerHolder = 7000;  // connections: 14,000 fds per holder
constexpr int kMarked = 4;        // control + 3 DERP connections

double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void RaiseFdLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

// `connections` loopback connections (marked ones first), held open until
// killed. Returns the holder's pid once they are all up.
pid_t SpawnHolder(int connections, int marked) {
  std::fflush(stdout);
  int ready[2];
  if (pipe(ready) != 0) std::exit(1);
  pid_t pid = fork();
  if (pid != 0) {
    close(ready[1]);
    char ok = 0;
    if (read(ready[0], &ok, 1) != 1 || ok != '1') {
      std::fprintf(stderr, "a socket holder failed\n");
      std::exit(1);
    }
    close(ready[0]);
    return pid;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  RaiseFdLimit();
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    _exit(1);
  }
  for (int i = 0; i < connections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    const uint32_t mark = 0x80000;
    if (i < marked) setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        accept(listener, nullptr, nullptr) < 0) {
      std::fprintf(stderr, "connection %d: %s\n", i, std::strerror(errno));
      _exit(1);
    }
  }
  char ok = '1';
  if (write(ready[1], &ok, 1) != 1) _exit(1);
  for (;;) pause();
}

struct Figures {
  size_t received = 0;
  size_t found = 0;
  double wall_p50_ms = 0;
  double wall_max_ms = 0;
  double cpu_ms = 0;  // mean per check
};

Figures Measure(bool kernel_filter, int rounds) {
  netlink::SockDiag diag(
      netlink::OpenSockDiagChannel(std::chrono::milliseconds(10000)));
  if (!kernel_filter) diag.DisableKernelFilterForTesting();
  const netlink::SockDiagQuery query{netlink::Family::kV4, IPPROTO_TCP,
                                     netlink::ClientTcpStates(),
                                     netlink::TailscaleMark(), true};
  Figures f;
  std::vector<double> walls;
  const double cpu_start = CpuMs();
  for (int i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    netlink::SockDump dump = diag.DumpBothFamilies(query);
    walls.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start)
            .count());
    if (dump.error != 0) {
      std::fprintf(stderr, "dump: %s\n", dump.detail.c_str());
      std::exit(1);
    }
    f.received = dump.received;
    f.found = dump.sockets.size();
  }
  f.cpu_ms = (CpuMs() - cpu_start) / rounds;
  std::sort(walls.begin(), walls.end());
  f.wall_p50_ms = walls[walls.size() / 2];
  f.wall_max_ms = walls.back();
  return f;
}

// One N, in a fresh network namespace (run in a child).
int RunOne(int sockets, int rounds) {
  if (unshare(CLONE_NEWNET) != 0 || std::system("ip link set lo up") != 0) {
    std::fprintf(stderr, "needs root: unshare(CLONE_NEWNET)\n");
    return 1;
  }
  const int connections = std::max(kMarked, sockets / 2);
  std::vector<pid_t> holders;
  const auto setup = Clock::now();
  for (int left = connections, i = 0; left > 0; left -= kPerHolder, ++i) {
    holders.push_back(
        SpawnHolder(std::min(left, kPerHolder), i == 0 ? kMarked : 0));
  }
  const double setup_s =
      std::chrono::duration<double>(Clock::now() - setup).count();
  for (bool kernel : {true, false}) {
    Figures f = Measure(kernel, rounds);
    std::printf("%10d  %-10s  %10zu  %5zu  %10.3f  %10.3f  %12.3f\n",
                2 * connections, kernel ? "kernel" : "user-space", f.received,
                f.found, f.wall_p50_ms, f.wall_max_ms, f.cpu_ms);
    std::fflush(stdout);
  }
  std::printf("            (%d connections set up in %.1f s by %zu holders)\n",
              connections, setup_s, holders.size());
  std::fflush(stdout);  // the caller _exit()s
  for (pid_t pid : holders) kill(pid, SIGKILL);
  for (pid_t pid : holders) waitpid(pid, nullptr, 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 100000};
  int rounds = 20;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      sizes = {1000, 10000};
      rounds = 5;
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (arg == "--sockets" && i + 1 < argc) {
      sizes = {std::atoi(argv[++i])};
    } else {
      std::fprintf(stderr,
                   "usage: bench_sock_diag [--quick] [--rounds R] "
                   "[--sockets N]\n");
      return 2;
    }
  }
  std::printf(
      "6. Connection check: one sock_diag dump of tailscaled's %d marked TCP "
      "connections (v4 + v6, with tcp_info)\n",
      kMarked);
  std::printf("%s\n", std::string(86, '-').c_str());
  std::printf("%10s  %-10s  %10s  %5s  %10s  %10s  %12s\n", "TCP sockets",
              "filter", "sent to us", "found", "wall p50", "wall max",
              "CPU/check");
  std::printf("%10s  %-10s  %10s  %5s  %10s  %10s  %12s\n", "", "", "", "",
              "ms", "ms", "ms");
  for (int n : sizes) {
    std::fflush(stdout);  // or the child prints the parent's buffer again
    pid_t pid = fork();
    if (pid == 0) _exit(RunOne(n, rounds));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  std::printf("%s\n", std::string(86, '-').c_str());
  std::printf(
      "%d rounds per row. CPU = CLOCK_PROCESS_CPUTIME_ID (user + system: the "
      "kernel walks its socket\n  tables inside our recvmsg calls). kernel: "
      "INET_DIAG_BC_MARK_COND bytecode, only marked sockets\n  come back; "
      "user-space: every socket comes back and is filtered by "
      "INET_DIAG_MARK. Sockets: both\n  ends of N/2 loopback connections in a "
      "fresh network namespace.\n",
      rounds);
  return 0;
}
