// Benchmark 6: what the periodic connection check costs on a host with N TCP
// sockets (issue 12: 1,000 and 100,000), three ways:
//   - the socket dump alone (netlink::SockDiag, tailscaled's marked TCP
//     sockets with tcp_info): both families in one walk of the kernel's
//     socket table (what the daemon does), one dump per family (a kernel
//     without the one-walk request), and the mark filter in user space (a
//     kernel that refuses the bytecode);
//   - the whole check as the daemon runs it every probe_interval
//     (watchdog::Inspector::CheckNow over the real ports: tailscaled's
//     process state, the dump, control and DERP told apart by the DERP map,
//     a route lookup per connection, the verdicts, the report), CPU of the
//     calling thread and wall time per check;
//   - `tswatchdog run` itself with probe_interval 1 s: its on-CPU time over a
//     window of checks (everything a check costs it: the above, the machine,
//     the state file).
//
// Each N runs in a child process in a network namespace of its own, so the
// sockets (and the namespace) vanish with it: the router namespace holds the
// fake tailscaled (tests/fake) on real sockets, its control and DERP servers
// in an "internet" namespace behind a veth, and N unrelated sockets: both
// ends of N/2 loopback connections held by helper processes of up to
// kPerHolder connections each (one process's fd limit is too low for
// 100,000 without CAP_SYS_RESOURCE).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_tailscaled_process.h"
#include "netlink/sock_diag.h"
#include "tests/bench/proc_stats.h"
#include "tests/lab/lab.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/inspector.h"
#include "watchdog/daemon/uplink_source.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/localapi/localapi_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPerHolder = 7000;  // connections: 14,000 fds per holder
const char kControl[] = "192.0.2.100:80";
const char kDerp[] = "192.0.2.101:443";

struct Options {
  std::vector<int> sizes = {1000, 100000};
  int rounds = 20;
  int daemon_seconds = 20;  // the window of `tswatchdog run`'s checks
};

// Where a run's stderr goes (its children's logs), so the table stays
// readable; "" until then.
std::string g_log_path;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench_sock_diag: %s\n", what.c_str());
  if (!g_log_path.empty()) {
    std::printf("bench_sock_diag: %s (the logs: %s)\n", what.c_str(),
                g_log_path.c_str());
  }
  std::exit(1);
}

// This process's stderr (and its children's) into a file of its own.
void LogTo(const std::string& path) {
  std::fflush(stderr);
  if (std::freopen(path.c_str(), "w", stderr) == nullptr) {
    Die("cannot write " + path);
  }
  setvbuf(stderr, nullptr, _IOLBF, 0);
  g_log_path = path;
}

double CpuMs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 +
         static_cast<double>(ts.tv_nsec) / 1e6;
}

void RaiseFdLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

// `connections` loopback connections, held open until killed. Returns the
// holder's pid once they are all up.
pid_t SpawnHolder(int connections) {
  std::fflush(stdout);
  int ready[2];
  if (pipe(ready) != 0) Die("pipe");
  pid_t pid = fork();
  if (pid != 0) {
    close(ready[1]);
    char ok = 0;
    if (read(ready[0], &ok, 1) != 1 || ok != '1') Die("a socket holder failed");
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
  size_t received = 0;  // records the kernel sent us per check
  size_t found = 0;     // tailscaled's sockets (or connections judged)
  std::vector<double> walls;
  double cpu_ms = 0;  // mean per check
  double WallP50() const {
    std::vector<double> w = walls;
    std::sort(w.begin(), w.end());
    return w.empty() ? 0 : w[w.size() / 2];
  }
  double WallMax() const {
    return walls.empty() ? 0 : *std::max_element(walls.begin(), walls.end());
  }
};

// `rounds` calls of `check`, timed by the wall clock and `cpu_clock`.
Figures Time(int rounds, clockid_t cpu_clock,
             const std::function<void(Figures*)>& check) {
  Figures f;
  const double cpu_start = CpuMs(cpu_clock);
  for (int i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    check(&f);
    f.walls.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start)
            .count());
  }
  f.cpu_ms = (CpuMs(cpu_clock) - cpu_start) / rounds;
  return f;
}

enum class DumpMode { kOneWalk, kPerFamily, kUserSpace };

Figures MeasureDump(DumpMode mode, int rounds) {
  netlink::SockDiag diag(netlink::OpenSockDiagChannel(milliseconds(10000)));
  if (mode == DumpMode::kUserSpace) diag.DisableKernelFilterForTesting();
  if (mode == DumpMode::kPerFamily) diag.DisableOneWalkForTesting();
  const netlink::SockDiagQuery query{netlink::Family::kV4, IPPROTO_TCP,
                                     netlink::ClientTcpStates(),
                                     netlink::TailscaleMark(), true};
  Figures f = Time(rounds, CLOCK_PROCESS_CPUTIME_ID, [&](Figures* out) {
    netlink::SockDump dump = diag.DumpBothFamilies(query);
    if (dump.error != 0) Die("dump: " + dump.detail);
    out->received = dump.received;
    out->found = dump.sockets.size();
  });
  if (mode != DumpMode::kPerFamily && !diag.one_walk()) {
    Die("the kernel refused the one-walk dump");
  }
  return f;
}

bool HasControlAndDerp(const watchdog::Evidence& evidence) {
  bool control = false, derp = false;
  for (const watchdog::JudgedConnection& c : evidence.connections) {
    control = control || c.kind == watchdog::ConnectionKind::kControl;
    derp = derp || c.kind == watchdog::ConnectionKind::kDerp;
  }
  return control && derp;
}

// The daemon's periodic check (Inspector::CheckNow) over the real ports,
// once the DERP map is in; CPU of this thread.
Figures MeasureCheck(const std::string& socket, int rounds) {
  watchdog::EventLoop loop;
  watchdog::WatcherUplinkSource uplink(loop, "tailscale0", false);
  watchdog::LocalApiOptions api;
  api.socket_path = socket;
  watchdog::LocalApiClient client(loop, api);
  watchdog::KernelConnectionSource source;
  watchdog::InspectorSettings settings;
  settings.probe_interval = milliseconds(0);  // the bench calls the check
  settings.socket = socket;
  watchdog::Evidence evidence;
  watchdog::Inspector inspector(
      loop, source, uplink, client, settings,
      {[&](const watchdog::Evidence& e) { evidence = e; },
       [](const std::string&) {}});
  inspector.Start();
  const auto deadline = Clock::now() + seconds(30);
  while (!HasControlAndDerp(evidence)) {
    if (Clock::now() > deadline) Die("no control and DERP connection seen");
    loop.RunOnce(100);
    inspector.CheckNow("bench warm-up");
  }
  return Time(rounds, CLOCK_THREAD_CPUTIME_ID, [&](Figures* out) {
    inspector.CheckNow("periodic");
    out->found = evidence.connections.size();
  });
}

// `tswatchdog run` (default config, probe_interval 1 s) for `window`: its
// on-CPU time over all threads per check.
Figures MeasureDaemon(const fake::FakeTailscaledProcess& fake, seconds window) {
  const std::string config = fake.dir() + "/tswatchdog.toml";
  // The state file on tmpfs, like the default /run/tswatchdog.
  const std::string state_dir =
      "/dev/shm/bench_sock_diag-" + std::to_string(getpid());
  const std::string state = state_dir + "/state.json";
  if (mkdir(state_dir.c_str(), 0700) != 0) Die("cannot make " + state_dir);
  std::ofstream(config) << "socket = \"" << fake.socket_path()
                        << "\"\nstate_file = \"" << state
                        << "\"\nprobe_interval = \"1s\"\n";
  lab::Child daemon({TSWATCHDOG_BINARY, "run", "--config", config},
                    /*merge_stderr=*/true);
  std::string line;
  auto read_until = [&](Clock::time_point until) {
    while (Clock::now() < until) {
      if (daemon.ReadLine(&line, milliseconds(200))) {
        std::fprintf(stderr, "tswatchdog: %s\n", line.c_str());
      }
    }
  };
  // Past its start-up: its first check, the DERP map, the bus's first line.
  read_until(Clock::now() + seconds(5));
  const std::optional<bench::ProcSample> before =
      bench::SampleProcess(daemon.pid());
  const auto start = Clock::now();
  read_until(start + window);
  const std::optional<bench::ProcSample> after =
      bench::SampleProcess(daemon.pid());
  if (!before || !after || daemon.Wait(milliseconds(0)) != -1) {
    Die("tswatchdog run exited");
  }
  const double elapsed_s =
      std::chrono::duration<double>(Clock::now() - start).count();
  Figures f;
  f.found = static_cast<size_t>(elapsed_s);  // checks, one a second
  f.cpu_ms = (after->on_cpu_ms - before->on_cpu_ms) / elapsed_s;
  daemon.Stop(seconds(10));
  std::remove(state.c_str());
  rmdir(state_dir.c_str());
  return f;
}

void PrintRow(int sockets, const char* what, const Figures& f, bool walls) {
  if (walls) {
    const std::string sent = f.received ? std::to_string(f.received) : "-";
    std::printf("%10d  %-28s %6s %5zu %9.3f %9.3f %10.3f\n", sockets, what,
                sent.c_str(), f.found, f.WallP50(), f.WallMax(), f.cpu_ms);
  } else {
    std::printf("%10d  %-28s %6s %5zu %9s %9s %10.3f\n", sockets, what, "-",
                f.found, "-", "-", f.cpu_ms);
  }
  std::fflush(stdout);
}

// The router: this namespace, wan0 to an internet namespace holding the
// fake's control and DERP servers, the default route through it.
std::unique_ptr<lab::Netns> ConnectInternet() {
  auto internet = std::make_unique<lab::Netns>();
  if (lab::Sh("ip link add wan0 type veth peer name isp0 netns " +
              std::to_string(internet->pid()) +
              " && ip addr add 198.51.100.2/24 dev wan0 && ip link set wan0 "
              "up && ip route add default via 198.51.100.1") != 0 ||
      internet->Sh("ip addr add 198.51.100.1/24 dev isp0 && ip link set isp0 "
                   "up && ip addr add 192.0.2.100/32 dev lo && ip addr add "
                   "192.0.2.101/32 dev lo") != 0) {
    Die("the internet namespace could not be linked");
  }
  return internet;
}

// One N, in a fresh network namespace (run in a child).
int RunOne(int sockets, const Options& o) {
  LogTo("/tmp/bench_sock_diag-" + std::to_string(sockets) + ".log");
  if (std::string problem = lab::EnterFreshNetns(); !problem.empty()) {
    Die(problem);
  }
  std::unique_ptr<lab::Netns> internet = ConnectInternet();
  fake::FakeInternetProcess servers(kControl, kDerp, {}, internet->pid());
  fake::FakeTailscaledProcess tailscaled(
      {"--control-server", kControl, "--derp-server", kDerp});
  if (!fake::WaitUntil([&] { return tailscaled.Get().value("online", false); },
                       seconds(30))) {
    Die("the fake tailscaled did not come online");
  }
  std::vector<pid_t> holders;
  const auto setup = Clock::now();
  const int connections = sockets / 2;
  for (int left = connections; left > 0; left -= kPerHolder) {
    holders.push_back(SpawnHolder(std::min(left, kPerHolder)));
  }
  const double setup_s =
      std::chrono::duration<double>(Clock::now() - setup).count();
  PrintRow(sockets, "dump, one walk (the daemon)",
           MeasureDump(DumpMode::kOneWalk, o.rounds), true);
  PrintRow(sockets, "dump, one per family",
           MeasureDump(DumpMode::kPerFamily, o.rounds), true);
  PrintRow(sockets, "dump, user-space filter",
           MeasureDump(DumpMode::kUserSpace, o.rounds), true);
  PrintRow(sockets, "check (Inspector::CheckNow)",
           MeasureCheck(tailscaled.socket_path(), o.rounds), true);
  if (o.daemon_seconds > 0) {
    PrintRow(sockets, "tswatchdog run, per check",
             MeasureDaemon(tailscaled, seconds(o.daemon_seconds)), false);
  }
  std::printf("            (%d connections set up in %.1f s by %zu holders)\n",
              connections, setup_s, holders.size());
  std::fflush(stdout);  // the caller _exit()s
  for (pid_t pid : holders) kill(pid, SIGKILL);
  for (pid_t pid : holders) waitpid(pid, nullptr, 0);
  return 0;
}

void PrintFooter(const Options& o) {
  std::printf("%s\n", std::string(86, '-').c_str());
  std::printf(
      "%d rounds per row. sent = records the kernel sent us; found = "
      "tailscaled's marked TCP sockets (dump)\n  or the connections judged "
      "(check). CPU: dump rows, the process (CLOCK_PROCESS_CPUTIME_ID); "
      "check,\n  the calling thread (CLOCK_THREAD_CPUTIME_ID): user + system, "
      "the kernel walks its socket table inside\n  our recvmsg calls. one "
      "walk: TCPDIAG_GETSOCK, both families in one dump; one per family: "
      "two\n  SOCK_DIAG_BY_FAMILY dumps; user-space: every socket comes back "
      "and is filtered by INET_DIAG_MARK.\n  tswatchdog run: default config "
      "with probe_interval 1 s for %d s, on-CPU (/proc/PID/task/*/schedstat)\n"
      "  per second = per check, all it does for one. Sockets: both ends of "
      "N/2 loopback connections\n  beside the fake tailscaled's control and "
      "DERP connections, in a fresh network namespace.\n",
      o.rounds, o.daemon_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      o.sizes = {1000, 10000};
      o.rounds = 5;
      o.daemon_seconds = 3;
    } else if (arg == "--rounds" && i + 1 < argc) {
      o.rounds = std::atoi(argv[++i]);
    } else if (arg == "--sockets" && i + 1 < argc) {
      o.sizes = {std::atoi(argv[++i])};
    } else if (arg == "--daemon-seconds" && i + 1 < argc) {
      o.daemon_seconds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: bench_sock_diag [--quick] [--rounds R] "
                   "[--sockets N] [--daemon-seconds S (0: no daemon row)]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  std::printf(
      "6. The periodic connection check: tailscaled's marked TCP sockets "
      "(v4 + v6, with tcp_info)\n");
  std::printf("%s\n", std::string(86, '-').c_str());
  std::printf("%10s  %-28s %6s %5s %9s %9s %10s\n", "TCP sockets", "", "sent",
              "found", "wall p50", "wall max", "CPU/check");
  std::printf("%10s  %-28s %6s %5s %9s %9s %10s\n", "", "", "", "", "ms", "ms",
              "ms");
  for (int n : o.sizes) {
    std::fflush(stdout);  // or the child prints the parent's buffer again
    pid_t pid = fork();
    if (pid == 0) _exit(RunOne(n, o));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  PrintFooter(o);
  return 0;
}
