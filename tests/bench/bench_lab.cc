// The lab benchmarks (README, "Benchmarks"): tswatchdog against the
// alternatives on the real kernel, in network namespaces this process creates
// (tests/lab/lab.h), against the fake tailscaled (tests/fake). Prints one
// plain-text table per benchmark:
//   1. reaction latency to a default-route failover,
//   2. CPU and wake-ups under a route storm,
//   3. footprint: size, RSS, idle wake-ups, start-up time to READY.
// Figures, not pass/fail timings. Run as root through scripts/bench.sh.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_tailscaled_process.h"
#include "netlink/unique_fd.h"
#include "tests/bench/proc_stats.h"
#include "tests/bench/route_writer.h"
#include "tests/lab/lab.h"

namespace bench {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const Uplink kWan0{"wan0", "198.51.100.1"};
const Uplink kWan1{"wan1", "203.0.113.1"};

struct Options {
  int failovers = 200;
  int polling_failovers = 10;
  int poll_interval_s = 10;
  int storm_ops = 200000;
  int storm_failovers = 10;
  int idle_seconds = 60;
  int startup_runs = 20;
  bool quick = false;
  std::string dir;  // on tmpfs, like /run
};

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what);
}

// --- Small helpers ----------------------------------------------------------

// "2026-11-22T05:10:54.914736339Z" -> ns since the epoch (UTC).
int64_t ParseRfc3339Ns(const std::string& text) {
  std::tm tm{};
  char fraction[16] = "";
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%9[0-9]Z", &tm.tm_year,
                  &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                  fraction) < 6) {
    Fail("bad time in the fake's log: " + text);
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string nanos = fraction;
  nanos.resize(9, '0');
  return static_cast<int64_t>(timegm(&tm)) * 1000000000 + std::stoll(nanos);
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;
};

// Nearest rank: the smallest value with at least p% of the samples at or
// below it.
Percentiles Summarize(std::vector<double> values) {
  Percentiles out;
  out.n = values.size();
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  auto rank = [&](double p) {
    size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(out.n)));
    return values[std::clamp<size_t>(k, 1, out.n) - 1];
  };
  out.p50 = rank(0.50);
  out.p99 = rank(0.99);
  out.max = values.back();
  return out;
}

// New lines of a growing file (the fake's request log), as JSON.
class LogTail {
 public:
  explicit LogTail(std::string path) : path_(std::move(path)) {}
  // Requests logged since the last call.
  std::vector<json> Next() {
    std::ifstream in(path_);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::vector<json> out;
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a line still being written
      offset_ += line.size() + 1;
      out.push_back(json::parse(line));
    }
    return out;
  }
  // The first request logged at or after `since_ns` (and, when `target` is
  // not empty, with that method and target); waits up to `timeout`.
  std::optional<json> WaitFirst(int64_t since_ns, milliseconds timeout,
                                const std::string& method = "",
                                const std::string& target = "") {
    const auto deadline = Clock::now() + timeout;
    do {
      for (json& request : Next()) {
        if (ParseRfc3339Ns(request["time"]) < since_ns) continue;
        if (!target.empty() &&
            (request["method"] != method || request["target"] != target)) {
          continue;
        }
        return request;
      }
      std::this_thread::sleep_for(milliseconds(1));
    } while (Clock::now() < deadline);
    return std::nullopt;
  }

 private:
  std::string path_;
  size_t offset_ = 0;
};

// Sets the variables in this process around a fork (the children inherit
// them), and restores the environment afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::map<std::string, std::string> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name,
                          old ? std::optional<std::string>(old) : std::nullopt);
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_) {
      if (old) {
        setenv(name.c_str(), old->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A datagram socket bound at `path`, playing systemd's NOTIFY_SOCKET.
class NotifyReceiver {
 public:
  explicit NotifyReceiver(std::string path) : path_(std::move(path)) {
    fd_.Reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    unlink(path_.c_str());
    if (!fd_ ||
        bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Fail("notify socket " + path_ + ": " + std::strerror(errno));
    }
  }
  ~NotifyReceiver() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  // The next datagram, or "" on timeout.
  std::string Receive(milliseconds timeout) {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buffer[4096];
    const ssize_t n = recv(fd_.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  netlink::UniqueFd fd_;
};

// A directory made by mkdtemp(`prefix` + "XXXXXX"), removed with its content.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string name = prefix + "XXXXXX";
    if (mkdtemp(name.data()) == nullptr) {
      Fail("mkdtemp " + name + ": " + std::strerror(errno));
    }
    path_ = name;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The filesystem type of `path`, for the table.
std::string FilesystemName(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) return "?";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x01021994:
      return "tmpfs";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x794c7630:
      return "overlayfs";
    default:
      return "fs 0x" + [&] {
        char hex[32];
        std::snprintf(hex, sizeof hex, "%lx",
                      static_cast<unsigned long>(fs.f_type));
        return std::string(hex);
      }();
  }
}

std::string MachineLine() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  std::ifstream loadavg("/proc/loadavg");
  double l1 = 0, l5 = 0, l15 = 0;
  loadavg >> l1 >> l5 >> l15;
  char text[512];
  std::snprintf(text, sizeof text,
                "machine: %s, %ld cores, kernel %s, load %.2f %.2f %.2f",
                model.c_str(), sysconf(_SC_NPROCESSORS_ONLN), u.release, l1, l5,
                l15);
  return text;
}

// --- The processes under test -----------------------------------------------

// `tswatchdog run` with the bench's config; its log (stderr) on the pipe.
class Daemon {
 public:
  // The state file goes to `state_dir`, by default the bench's tmpfs
  // directory (like /run/tswatchdog, the default).
  Daemon(const Options& options, const std::string& name,
         const fake::FakeTailscaledProcess& fake,
         const std::string& state_dir = "")
      : config_path_(options.dir + "/" + name + ".toml"),
        state_path_((state_dir.empty() ? options.dir : state_dir) + "/" + name +
                    ".state.json") {
    std::ofstream config(config_path_);
    config << "socket = \"" << fake.socket_path() << "\"\n"
           << "state_file = \"" << state_path_ << "\"\n"
           << "debounce = \"0s\"\n"
           << "grace = \"0s\"\n";
    config.close();
    child_ = std::make_unique<lab::Child>(
        std::vector<std::string>{TSWATCHDOG_BINARY, "run", "--config",
                                 config_path_},
        /*merge_stderr=*/true);
  }
  lab::Child& child() { return *child_; }
  pid_t pid() const { return child_->pid(); }

  // Reads the log until the daemon is healthy and its soft kick (if
  // `kicked`) has finished: idle again, ready for the next change.
  void WaitSettled(bool kicked = true, milliseconds timeout = seconds(10)) {
    const auto deadline = Clock::now() + timeout;
    bool healthy = false, kick_done = !kicked;
    std::string line;
    while (!(healthy && kick_done)) {
      auto left =
          std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !child_->ReadLine(&line, left)) {
        Fail("tswatchdog did not settle healthy; last log line: " + line);
      }
      Note(line);
      if (line.find("-> healthy") != std::string::npos) healthy = true;
      if (line.find("step rebind done") != std::string::npos) kick_done = true;
    }
  }

  // Reads log lines for up to `timeout` until `count` uplink changes are
  // reported in total; returns the v4 device of each, in order.
  const std::vector<std::string>& WaitUplinkChanges(size_t count,
                                                    milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string line;
    while (uplink_devs_.size() < count) {
      auto left =
          std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !child_->ReadLine(&line, left)) break;
      Note(line);
    }
    return uplink_devs_;
  }
  int resyncs() const { return resyncs_; }

 private:
  // "uplink changed (...): v4 dev wan0 ...; v6 ... -> v4 dev wan1 ...; v6 ..."
  void Note(const std::string& line) {
    if (line.find("netlink: resync") != std::string::npos) ++resyncs_;
    const size_t changed = line.find("uplink changed (");
    if (changed == std::string::npos) return;
    const size_t arrow = line.find(" -> ", changed);
    const size_t dev = line.find("v4 dev ", arrow);
    if (arrow == std::string::npos || dev == std::string::npos) {
      uplink_devs_.push_back("(none)");
      return;
    }
    const size_t start = dev + 7;
    uplink_devs_.push_back(line.substr(start, line.find(' ', start) - start));
  }

  std::string config_path_;
  std::string state_path_;
  std::unique_ptr<lab::Child> child_;
  std::vector<std::string> uplink_devs_;
  int resyncs_ = 0;
};

std::unique_ptr<lab::Child> StartIpMonitor(const std::string& redirect = "") {
  if (redirect.empty()) {
    return std::make_unique<lab::Child>(
        std::vector<std::string>{"/usr/bin/env", "ip", "monitor", "route"});
  }
  return std::make_unique<lab::Child>(std::vector<std::string>{
      "/bin/sh", "-c", "exec ip monitor route " + redirect});
}

void PrintRule(size_t width) {
  std::printf("%s\n", std::string(width, '-').c_str());
}

// --- 1. Reaction latency ----------------------------------------------------

void LatencyBench(const Options& options, RouteWriter& writer) {
  std::vector<double> floor_ms, poll_ms;
  std::map<std::string, int> first_requests;
  const Uplink* current = &kWan0;
  auto next_uplink = [&] {
    current = current == &kWan0 ? &kWan1 : &kWan0;
    return *current;
  };
  auto ip_monitor = StartIpMonitor();

  // The state file on tmpfs (the default /run/tswatchdog is), then on the
  // disk under /var/tmp: the daemon writes and fsync()s it once per loop
  // iteration that changed its state, before the kick is sent.
  const TempDir disk("/var/tmp/tswatchdog-bench-");
  struct DaemonRun {
    std::string label;
    std::string state_dir;
    std::vector<double> ms;
  };
  std::vector<DaemonRun> runs = {
      {"tswatchdog run", "", {}},
      {"tswatchdog run, state file on " + FilesystemName(disk.path()),
       disk.path(),
       {}},
  };
  for (DaemonRun& run : runs) {
    fake::FakeTailscaledProcess fake;
    Daemon daemon(options, "latency", fake, run.state_dir);
    daemon.WaitSettled();
    LogTail log(fake.log_path());
    log.Next();
    for (int i = 0; i < options.failovers; ++i) {
      const Uplink uplink = next_uplink();
      const int64_t t0 = writer.ReplaceDefault(uplink);
      if (!ip_monitor->WaitForLine("default via " + uplink.gateway,
                                   seconds(5))) {
        Fail("ip monitor route did not report failover " + std::to_string(i));
      }
      floor_ms.push_back(Ms(RealtimeNs() - t0));
      auto first = log.WaitFirst(t0, seconds(5));
      if (!first)
        Fail("no LocalAPI request after failover " + std::to_string(i));
      run.ms.push_back(Ms(ParseRfc3339Ns((*first)["time"]) - t0));
      ++first_requests[(*first)["method"].get<std::string>() + " " +
                       (*first)["target"].get<std::string>()];
      daemon.WaitSettled();
    }
  }

  {
    // The polling watchdog people run: poll status every N s, `start` when
    // Self is not online. Its fake goes offline the instant the route
    // changes (`stuck control`, healed by start): what this measures is the
    // script's polling delay alone. A real tailscaled shows Online false
    // only after its 120 s watchdog; benchmark 5 (bench_heal) measures the
    // whole time to heal against the faithful fake.
    fake::FakeTailscaledProcess fake;
    lab::Child poller(
        {"/bin/sh", TSWATCHDOG_BENCH_DIR "/poll_watchdog.sh",
         fake.socket_path(), std::to_string(options.poll_interval_s)},
        /*merge_stderr=*/true);
    LogTail log(fake.log_path());
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> phase(
        0, options.poll_interval_s * 1000 - 1);
    for (int i = 0; i < options.polling_failovers; ++i) {
      // A failover at a random moment of the poller's cycle.
      std::this_thread::sleep_for(milliseconds(phase(rng)));
      const Uplink uplink = next_uplink();
      const int64_t t0 = writer.ReplaceDefault(uplink);
      fake.MustControl("stuck control");
      if (!ip_monitor->WaitForLine("default via " + uplink.gateway,
                                   seconds(5))) {
        Fail("ip monitor route did not report a failover");
      }
      auto start = log.WaitFirst(t0, seconds(2 * options.poll_interval_s + 10),
                                 "POST", "/localapi/v0/start");
      if (!start) Fail("the polling watchdog never acted");
      poll_ms.push_back(Ms(ParseRfc3339Ns((*start)["time"]) - t0));
    }
  }

  std::string first;
  for (const auto& [request, count] : first_requests) {
    first += (first.empty() ? "" : ", ") + request + " " +
             std::to_string(count) + "/" + std::to_string(floor_ms.size());
  }
  std::printf(
      "\n1. Reaction latency: default route replaced (wan0 <-> wan1) -> "
      "first reaction, ms\n");
  PrintRule(100);
  std::printf("%-34s %5s %9s %9s %9s  %s\n", "", "n", "p50", "p99", "max",
              "measured to");
  auto row = [](const std::string& name, const std::vector<double>& v,
                const std::string& what) {
    const Percentiles p = Summarize(v);
    std::printf("%-34s %5zu %9.3f %9.3f %9.3f  %s\n", name.c_str(), p.n, p.p50,
                p.p99, p.max, what.c_str());
  };
  row("ip monitor route (the floor)", floor_ms, "line read from ip's stdout");
  for (const DaemonRun& run : runs) {
    row(run.label, run.ms,
        &run == &runs.front() ? "first request at the fake: " + first
                              : "(the same)");
  }
  row("poll script, N = " + std::to_string(options.poll_interval_s) + " s",
      poll_ms, "POST /localapi/v0/start at the fake");
  PrintRule(100);
  std::printf(
      "tswatchdog config: debounce = \"0s\", grace = \"0s\", everything else "
      "default (kick_on_change = true:\n"
      "  the soft kick `rebind` is the first request; the fake stays healthy, "
      "so the ladder never runs and\n"
      "  max_disruptive_per_hour is never reached). Each failover waits for "
      "the daemon to be healthy again.\n"
      "  The state file is on tmpfs like the default /run/tswatchdog, then on "
      "disk: it is written and\n"
      "  fsync()ed once per loop iteration that changed it, before the kick "
      "is sent.\n"
      "poll script (tests/bench/poll_watchdog.sh): curl status every N s, "
      "POST start when Self is not Online;\n"
      "  its fake goes offline the instant the route changes (stuck control, "
      "healed by start), so this is\n"
      "  its polling delay alone: a real tailscaled shows Online false only "
      "after its 120 s watchdog\n"
      "  (benchmark 5 measures the time to heal). Each failover costs ~N s, "
      "so it ran %d\n"
      "  failovers (10 by default; --polling-failovers N, or --full for as "
      "many as tswatchdog), each at a random\n"
      "  point of its cycle.\n",
      options.polling_failovers);
  std::fflush(stdout);
}

// --- 2. Route storm ---------------------------------------------------------

struct StormSubject {
  std::string name;
  pid_t pid;
  ProcSample before, after;
};

void StormBench(const Options& options, RouteWriter& writer) {
  if (lab::Sh("set -e\nip link add storm0 type veth peer name storm1\n"
              "ip link set storm0 up\nip link set storm1 up") != 0) {
    Fail("could not create the storm veth");
  }
  const int oif = InterfaceIndex("storm0");
  // Whatever benchmark 1 left: the storm starts from wan0.
  writer.ReplaceDefault(kWan0);
  // Host routes, added then deleted in chunks of 1000 (254 IPv4 /32s in
  // 192.0.2.0/24 and 746 IPv6 /128s in 2001:db8:5::/64), with the failovers
  // spread evenly between a chunk's adds and its deletes. 192.0.2.1 and
  // 2001:db8::1 are left alone: they are the egress probes (netlink/egress.cc),
  // and a host route to a probe is a real uplink change.
  constexpr int kChunk = 1000;
  const int chunks = std::max(1, options.storm_ops / (2 * kChunk));
  const int failovers = std::min(options.storm_failovers, chunks);
  std::vector<uint8_t> adds, deletes;
  for (int i = 0; i < kChunk; ++i) {
    char address[64];
    if (i < 254) {
      std::snprintf(address, sizeof address, "192.0.2.%d", i + 2);
    } else {
      std::snprintf(address, sizeof address, "2001:db8:5::%x", i);
    }
    writer.AppendHostRoute(true, address, oif, &adds);
    writer.AppendHostRoute(false, address, oif, &deletes);
  }

  fake::FakeTailscaledProcess fake;
  Daemon daemon(options, "storm", fake);
  daemon.WaitSettled();
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--json"},
                     /*merge_stderr=*/true);
  std::string line;
  if (!monitor.WaitForLine("\"initial\"", seconds(10), &line)) {
    Fail("tswatchdog monitor --json printed no initial view");
  }
  auto ip_monitor = StartIpMonitor("2>&1 >/dev/null");
  std::vector<StormSubject> subjects = {
      {"tswatchdog run", daemon.pid(), {}, {}},
      {"tswatchdog monitor --json", monitor.pid(), {}, {}},
      {"ip monitor route > /dev/null", ip_monitor->pid(), {}, {}},
  };
  for (auto& s : subjects) {
    WaitUntilIdle(s.pid, 300, 5000);
    s.before = SampleProcess(s.pid).value();
  }

  std::vector<std::string> expected;
  const Uplink* current = &kWan0;
  const auto started = Clock::now();
  int done_failovers = 0;
  for (int c = 0; c < chunks; ++c) {
    writer.Flush(adds);
    if (done_failovers < failovers &&
        c == (2 * done_failovers + 1) * chunks / (2 * failovers)) {
      current = current == &kWan0 ? &kWan1 : &kWan0;
      writer.ReplaceDefault(*current);
      expected.push_back(current->dev);
      ++done_failovers;
    }
    writer.Flush(deletes);
  }
  const double storm_s =
      std::chrono::duration<double>(Clock::now() - started).count();

  // Every failover reported, by the daemon and by monitor --json?
  const std::vector<std::string> reported =
      daemon.WaitUplinkChanges(expected.size(), seconds(30));
  std::vector<std::string> monitor_reported;
  while (monitor_reported.size() < expected.size() &&
         monitor.ReadLine(&line, seconds(30))) {
    if (line.empty() || line[0] != '{') continue;
    json change = json::parse(line);
    if (change["event"] != "change") continue;
    monitor_reported.push_back(change["v4"]["dev"].is_string()
                                   ? change["v4"]["dev"].get<std::string>()
                                   : "(none)");
  }
  for (auto& s : subjects) {
    WaitUntilIdle(s.pid, 500, 30000);
    s.after = SampleProcess(s.pid).value();
  }
  // ip monitor says "netlink receive error No buffer space available" on
  // each overrun (and goes on, having lost the messages).
  int ip_overruns = 0;
  while (ip_monitor->ReadLine(&line, milliseconds(100))) {
    if (line.find("No buffer space") != std::string::npos) ++ip_overruns;
  }
  const uint64_t daemon_hwm =
      ProcessMemory(daemon.pid()).value_or(ProcMemory{}).hwm_kib;

  auto verdict = [&](const std::vector<std::string>& got) {
    size_t right = 0;
    for (size_t i = 0; i < expected.size() && i < got.size(); ++i) {
      if (got[i] == expected[i]) ++right;
    }
    const bool all = right == expected.size() && got.size() == expected.size();
    std::string text = std::to_string(right) + "/" +
                       std::to_string(expected.size()) + " reported, ";
    if (all) return text + "final state right each time";
    text += "MISSED OR WRONG: v4 dev";
    for (const std::string& dev : got) text += " " + dev;
    return text;
  };
  const int total_ops = chunks * 2 * kChunk;
  std::printf(
      "\n2. Route storm: %d route adds/deletes (host routes on a veth) + %d "
      "default-route failovers, in %.1f s (%.0f ops/s)\n",
      total_ops, failovers, storm_s, total_ops / storm_s);
  PrintRule(110);
  std::printf("%-30s %8s %10s %9s %9s  %s\n", "", "CPU ms", "on-CPU ms",
              "wake-ups", "overruns", "failovers");
  for (const auto& s : subjects) {
    const double cpu = s.after.cpu_ms - s.before.cpu_ms;
    const uint64_t wakeups = s.after.wakeups() - s.before.wakeups();
    std::string failover_text = "(not checked: output discarded)";
    std::string overruns = std::to_string(ip_overruns);
    if (s.pid == daemon.pid()) {
      failover_text = verdict(reported) + " (log)";
      overruns = std::to_string(daemon.resyncs()) + " rs";
    } else if (s.pid == monitor.pid()) {
      failover_text = verdict(monitor_reported) + " (--json)";
      overruns = "-";
    }
    std::printf("%-30s %8.0f %10.1f %9llu %9s  %s\n", s.name.c_str(), cpu,
                s.after.on_cpu_ms - s.before.on_cpu_ms,
                static_cast<unsigned long long>(wakeups), overruns.c_str(),
                failover_text.c_str());
  }
  PrintRule(110);
  std::printf(
      "CPU = utime+stime from /proc/PID/stat (10 ms ticks); on-CPU = "
      "/proc/PID/task/*/schedstat (ns); after minus\n"
      "  before, once each process is idle again.\n"
      "wake-ups = voluntary + involuntary context switches "
      "(/proc/PID/task/*/status), after minus before.\n"
      "overruns: tswatchdog: netlink resyncs after ENOBUFS (rs), from its "
      "log; ip: \"No buffer space\" errors (messages lost).\n"
      "tswatchdog run also soft-kicks tailscaled on each failover (config "
      "of benchmark 1). Its peak RSS after the storm: %llu KiB.\n"
      "route writer errors: %llu.\n",
      static_cast<unsigned long long>(daemon_hwm),
      static_cast<unsigned long long>(writer.errors()));
  std::fflush(stdout);
  lab::Sh("ip link del storm0");
}

// --- 3. Footprint -----------------------------------------------------------

void FootprintBench(const Options& options) {
  const std::string stripped = options.dir + "/tswatchdog.stripped";
  if (lab::Sh(std::string("strip -o ") + stripped + " " + TSWATCHDOG_BINARY) !=
      0) {
    Fail("strip failed");
  }
  const auto stripped_size = std::filesystem::file_size(stripped);
  const auto full_size = std::filesystem::file_size(TSWATCHDOG_BINARY);

  fake::FakeTailscaledProcess fake;
  // Start-up: exec -> READY=1 on a NOTIFY_SOCKET we bind.
  std::vector<double> startup_ms;
  {
    NotifyReceiver notify(options.dir + "/notify-startup.sock");
    for (int i = 0; i < options.startup_runs; ++i) {
      ScopedEnv env({{"NOTIFY_SOCKET", notify.path()}});
      const auto t0 = Clock::now();
      Daemon daemon(options, "startup", fake);
      for (;;) {
        const std::string message = notify.Receive(seconds(10));
        if (message.empty()) Fail("no READY=1 from tswatchdog run");
        if (message.find("READY=1") != std::string::npos) break;
      }
      startup_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      daemon.child().Signal(SIGTERM);
      daemon.child().Wait(seconds(10));
      while (!notify.Receive(milliseconds(0)).empty()) {
      }
    }
  }

  // Idle: healthy tailscaled, nothing changing. One daemon as systemd runs
  // it (the shipped unit's WatchdogSec=30s: a WATCHDOG=1 ping every 15 s),
  // one without a service manager. The window opens kIdleAfterStart after
  // the start: start-up (the first connection check, the DERP map, the bus's
  // first line) is not idling.
  constexpr auto kIdleAfterStart = seconds(5);
  NotifyReceiver notify(options.dir + "/notify-idle.sock");
  const auto idle_started = Clock::now();
  std::unique_ptr<Daemon> supervised, plain;
  {
    ScopedEnv env(
        {{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "30000000"}});
    supervised = std::make_unique<Daemon>(options, "idle-systemd", fake);
  }
  plain = std::make_unique<Daemon>(options, "idle-plain", fake);
  supervised->WaitSettled();
  plain->WaitSettled();
  struct Idle {
    const char* name;
    Daemon* daemon;
    ProcSample before, after;
    ProcMemory memory;
    const char* timers;
  };
  std::vector<Idle> idle = {
      {"tswatchdog run (WatchdogSec=30s)",
       supervised.get(),
       {},
       {},
       {},
       "the connection check and WATCHDOG=1, each every 15 s"},
      {"tswatchdog run (no supervisor)",
       plain.get(),
       {},
       {},
       {},
       "the connection check every 15 s: 4/min"},
  };
  std::this_thread::sleep_until(idle_started +
                                (options.quick ? seconds(0) : kIdleAfterStart));
  for (auto& d : idle) {
    WaitUntilIdle(d.daemon->pid(), 300, 5000);
    d.before = SampleProcess(d.daemon->pid()).value();
  }
  while (!notify.Receive(milliseconds(0)).empty()) {
  }
  const auto idle_start = Clock::now();
  int pings = 0;
  while (Clock::now() < idle_start + seconds(options.idle_seconds)) {
    auto left = std::chrono::duration_cast<milliseconds>(
        idle_start + seconds(options.idle_seconds) - Clock::now());
    const std::string message = notify.Receive(std::max(left, milliseconds(1)));
    if (message.find("WATCHDOG=1") != std::string::npos) ++pings;
  }
  const double minutes =
      std::chrono::duration<double>(Clock::now() - idle_start).count() / 60.0;
  for (auto& d : idle) {
    d.after = SampleProcess(d.daemon->pid()).value();
    d.memory = ProcessMemory(d.daemon->pid()).value();
  }

  const Percentiles startup = Summarize(startup_ms);
  std::printf("\n3. Footprint of tswatchdog run (healthy fake tailscaled)\n");
  PrintRule(100);
  std::printf(
      "binary: %.0f KiB stripped (%.0f KiB with debug info), "
      "dynamically linked\n",
      static_cast<double>(stripped_size) / 1024.0,
      static_cast<double>(full_size) / 1024.0);
  std::printf(
      "start-up, exec -> READY=1 on NOTIFY_SOCKET (%zu runs): p50 %.1f ms, "
      "max %.1f ms\n",
      startup.n, startup.p50, startup.max);
  std::printf("%-34s %8s %9s %9s %13s %9s  %s\n", "idle", "RSS KiB", "anon KiB",
              "peak KiB", "wake-ups/min", "on-CPU ms",
              "timers the config sets");
  for (const auto& d : idle) {
    std::printf(
        "%-34s %8llu %9llu %9llu %13.1f %9.2f  %s\n", d.name,
        static_cast<unsigned long long>(d.memory.rss_kib),
        static_cast<unsigned long long>(d.memory.anon_kib),
        static_cast<unsigned long long>(d.memory.hwm_kib),
        static_cast<double>(d.after.wakeups() - d.before.wakeups()) / minutes,
        d.after.on_cpu_ms - d.before.on_cpu_ms, d.timers);
  }
  PrintRule(100);
  std::printf(
      "idle window %.0f s, from 5 s after the start; WATCHDOG=1 pings "
      "received in it: %d. RSS = VmRSS (shared libraries\n"
      "  included), anon = RssAnon (its own heap and stacks), peak = VmHWM; "
      "/proc/PID/status at the window's end.\n"
      "wake-ups = voluntary + involuntary context switches. Config: the "
      "benchmark 1 config (no status poll:\n"
      "  tailscaled's state comes from its IPN bus stream, which is silent "
      "while nothing changes).\n",
      minutes * 60.0, pings);
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  cxxopts::Options parser("bench_lab",
                          "tswatchdog lab benchmarks (run as root; see README "
                          "\"Benchmarks\")");
  Options options;
  std::string only;
  parser.add_options()("quick", "a smoke run of the harness (seconds)")(
      "full", "all 200 failovers for the polling script too (~35 min)")(
      "failovers", "failovers for tswatchdog and ip monitor",
      cxxopts::value<int>(options.failovers))(
      "polling-failovers", "failovers for the polling script",
      cxxopts::value<int>(options.polling_failovers))(
      "poll-interval", "the polling script's N, seconds",
      cxxopts::value<int>(options.poll_interval_s))(
      "storm-ops", "route adds + deletes in the storm",
      cxxopts::value<int>(options.storm_ops))(
      "idle-seconds", "idle measurement window",
      cxxopts::value<int>(options.idle_seconds))(
      "startup-runs", "start-up time samples",
      cxxopts::value<int>(options.startup_runs))(
      "only", "latency, storm or footprint", cxxopts::value<std::string>(only))(
      "h,help", "this help");
  auto args = parser.parse(argc, argv);
  if (args.count("help")) {
    std::printf("%s\n", parser.help().c_str());
    return 0;
  }
  if (args.count("quick")) {
    options.quick = true;
    options.failovers = 20;
    options.polling_failovers = 2;
    options.poll_interval_s = 1;
    options.storm_ops = 20000;
    options.storm_failovers = 2;
    options.idle_seconds = 2;
    options.startup_runs = 3;
  }
  if (args.count("full")) options.polling_failovers = options.failovers;

  const std::string problem = lab::EnterFreshNetns();
  if (!problem.empty()) {
    std::fprintf(stderr, "bench_lab: %s\n", problem.c_str());
    return 1;
  }
  const TempDir dir("/dev/shm/tswatchdog-bench-");
  options.dir = dir.path();

  std::printf("%s\n", MachineLine().c_str());
  std::fflush(stdout);
  lab::DualWanRouter router = lab::CreateDualWanRouter();
  if (lab::Sh("ip route add default via 198.51.100.1 dev wan0") != 0) {
    Fail("no default route");
  }
  RouteWriter writer;
  if (only.empty() || only == "latency") LatencyBench(options, writer);
  if (only.empty() || only == "storm") StormBench(options, writer);
  if (only.empty() || only == "footprint") FootprintBench(options);
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  try {
    return bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lab: %s\n", e.what());
    return 1;
  }
}
