// Benchmark 7 (issue 12, cost): what an idle `tswatchdog run` costs the
// host at real scale: wake-ups a minute, CPU a minute, resident memory. Each
// binary (this build's, and with --baseline an older build, e.g. from before
// the connection diagnosis) runs with its default config against the fake
// tailscaled on real sockets in a lab world of its own (tests/lab/world.h:
// control and DERP connections through the world's kernel, tailscaled's real
// timing), all in parallel, each in a child process with fresh namespaces.
// Nothing fails: the daemon sees a healthy tailscaled and only its own
// timers wake it (since issue 12: the periodic connection check every
// probe_interval, 15 s).
//
// A wake-up is a context switch of the daemon's threads: voluntary (it slept
// in epoll_wait and was woken) plus involuntary (preempted);
// /proc/PID/task/*/status, after minus before the window. Memory is VmRSS,
// RssAnon and VmHWM at the window's end. State writes are the renames onto
// its state file in the window (lab::RenameCounter): each one an fsync, on
// flash where state_file is set there.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fake_tailscaled_process.h"
#include "tests/bench/proc_stats.h"
#include "tests/lab/lab.h"
#include "tests/lab/world.h"
#include "tests/lab/world_run.h"

namespace bench {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

struct Binary {
  std::string label;  // "this build", or what --baseline named it
  std::string path;
};

struct Options {
  std::vector<Binary> binaries = {{"this build", TSWATCHDOG_BINARY}};
  int settle_s = 40;   // from the start: grace (20 s), the first checks
  int window_s = 120;  // the measured stretch
  std::string dir;
};

// The requests tailscaled got in [from_ms, to_ms) (its request log).
size_t RequestsBetween(const fake::FakeTailscaledProcess& fake, int64_t from_ms,
                       int64_t to_ms) {
  size_t n = 0;
  for (const json& r : fake.Requests()) {
    const int64_t t = r.value("unix_ms", int64_t{0});
    if (t >= from_ms && t < to_ms) ++n;
  }
  return n;
}

// The resident KiB of the mappings of `binary` (its code and data as
// mapped from the file: /proc/PID/smaps), -1 when unreadable.
long long BinaryRssKib(pid_t pid, const std::string& binary) {
  std::error_code error;
  const std::string path = std::filesystem::canonical(binary, error).string();
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  if (!smaps || error) return -1;
  long long kib = 0;
  bool ours = false;
  for (std::string line; std::getline(smaps, line);) {
    const size_t space = line.rfind(' ');
    if (line.find('-') < line.find(' ')) {  // a mapping's first line
      ours = space != std::string::npos && line.substr(space + 1) == path;
    } else if (ours && line.rfind("Rss:", 0) == 0) {
      kib += std::stoll(line.substr(4));
    }
  }
  return kib;
}

// One binary, in a world of its own (run in a child process).
json RunOne(const Options& o, const Binary& b, const std::string& dir) {
  if (auto problem = lab::EnterFreshNetns(); !problem.empty()) {
    return {{"error", problem}};
  }
  lab::World world;
  world.AddMainDefaults();
  lab::Scenario healthy;
  healthy.id = "idle";
  lab::TailscaledInWorld tailscaled(world, healthy, 1.0, dir);
  if (!fake::WaitUntil([&] { return tailscaled.Online(); }, seconds(60))) {
    return {{"error", "tailscaled never came online"}};
  }
  const std::string config = dir + "/tswatchdog.toml";
  std::ofstream(config) << lab::TswatchdogDefaultConfig(
      1.0, tailscaled.fake().socket_path(), dir + "/state.json", "true");
  // Its log to a file: nothing reads a pipe while it idles.
  lab::Child daemon({"/bin/sh", "-c",
                     "exec \"$0\" run --config \"$1\" >\"$2\" 2>&1", b.path,
                     config, dir + "/tswatchdog.log"});
  std::this_thread::sleep_for(seconds(o.settle_s));
  const std::optional<ProcSample> before = SampleProcess(daemon.pid());
  lab::RenameCounter state_writes(dir, "state.json");
  const int64_t from_ms = lab::UnixNowMs();
  const auto start = Clock::now();
  std::this_thread::sleep_for(seconds(o.window_s));
  const std::optional<ProcSample> after = SampleProcess(daemon.pid());
  const long long writes = state_writes.Count();
  const std::optional<ProcMemory> memory = ProcessMemory(daemon.pid());
  const long long binary_kib = BinaryRssKib(daemon.pid(), b.path);
  const double minutes =
      std::chrono::duration<double>(Clock::now() - start).count() / 60.0;
  if (!before || !after || !memory) {
    return {{"error",
             "tswatchdog run exited; its log: " + dir + "/tswatchdog.log"}};
  }
  const size_t requests =
      RequestsBetween(tailscaled.fake(), from_ms, lab::UnixNowMs());
  daemon.Stop(seconds(10));
  return {
      {"voluntary_per_min",
       static_cast<double>(after->voluntary - before->voluntary) / minutes},
      {"involuntary_per_min",
       static_cast<double>(after->involuntary - before->involuntary) / minutes},
      {"on_cpu_ms_per_min", (after->on_cpu_ms - before->on_cpu_ms) / minutes},
      {"requests_per_min", static_cast<double>(requests) / minutes},
      {"state_writes_per_min",
       writes < 0 ? json(nullptr)
                  : json(static_cast<double>(writes) / minutes)},
      {"rss_kib", memory->rss_kib},
      {"anon_kib", memory->anon_kib},
      {"hwm_kib", memory->hwm_kib},
      {"binary_kib", binary_kib},
      {"online_at_end", tailscaled.Online()}};
}

std::vector<json> RunAll(const Options& o) {
  std::vector<pid_t> pids;
  std::vector<std::string> dirs;
  for (size_t i = 0; i < o.binaries.size(); ++i) {
    const std::string dir = o.dir + "/run" + std::to_string(i);
    std::filesystem::create_directories(dir);
    dirs.push_back(dir);
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      json result;
      try {
        result = RunOne(o, o.binaries[i], dir);
      } catch (const std::exception& e) {
        result = {{"error", e.what()}};
      }
      std::ofstream(dir + "/result.json") << result.dump() << "\n";
      _exit(0);
    }
    pids.push_back(pid);
  }
  std::vector<json> results;
  for (size_t i = 0; i < pids.size(); ++i) {
    waitpid(pids[i], nullptr, 0);
    std::ifstream in(dirs[i] + "/result.json");
    json r = json::parse(in, nullptr, false);
    results.push_back(r.is_discarded() ? json{{"error", "no result"}} : r);
  }
  return results;
}

void PrintTable(const Options& o, const std::vector<json>& results) {
  const std::string rule(100, '-');
  std::printf(
      "\n7. Idle tswatchdog run at real scale (default config, healthy fake "
      "tailscaled on real sockets)\n%s\n",
      rule.c_str());
  std::printf("%-30s %13s %10s %8s %7s %8s %8s %8s %8s %6s\n", "binary",
              "wake-ups/min", "CPU ms/min", "requests", "writes", "RSS KiB",
              "anon KiB", "own KiB", "peak KiB", "online");
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    const std::string label = o.binaries[i].label;
    if (r.contains("error")) {
      std::printf("%-34s error: %s\n", label.c_str(),
                  r["error"].get<std::string>().c_str());
      continue;
    }
    const double wakeups = r["voluntary_per_min"].get<double>() +
                           r["involuntary_per_min"].get<double>();
    const json& writes = r["state_writes_per_min"];
    std::printf(
        "%-30s %6.1f (%4.1f) %10.2f %8.1f %7.1f %8llu %8llu %8lld %8llu %6s\n",
        label.c_str(), wakeups, r["involuntary_per_min"].get<double>(),
        r["on_cpu_ms_per_min"].get<double>(),
        r["requests_per_min"].get<double>(),
        writes.is_number() ? writes.get<double>() : -1.0,
        r["rss_kib"].get<unsigned long long>(),
        r["anon_kib"].get<unsigned long long>(),
        r["binary_kib"].get<long long>(),
        r["hwm_kib"].get<unsigned long long>(),
        r["online_at_end"].get<bool>() ? "yes" : "no");
  }
  std::printf("%s\n", rule.c_str());
  std::printf(
      "window %d s, from %d s after the start. wake-ups = voluntary + "
      "involuntary (in brackets) context switches\n  of all its threads "
      "a minute; CPU = on-CPU time (/proc/PID/task/*/schedstat) a minute; "
      "requests = LocalAPI\n  requests a minute at the fake; writes = "
      "state file writes a minute (fsyncs; -1: no inotify); RSS = VmRSS "
      "(shared libraries included), anon = RssAnon (its heap and\n  "
      "stacks), own = the resident part of the tswatchdog file's mappings "
      "(its code and\n  constants), peak = VmHWM, at the window's end. No "
      "service manager: "
      "under systemd (WatchdogSec=30s) add\n  the WATCHDOG=1 ping, 4 "
      "wake-ups a minute. Logs (kept if a run failed): %s\n",
      o.window_s, o.settle_s, o.dir.c_str());
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::Options o;
  std::vector<std::string> baselines;
  cxxopts::Options parser("bench_idle",
                          "benchmark 7: idle wake-ups, CPU and RSS of "
                          "tswatchdog run (run as root)");
  parser.add_options()("seconds", "the measured window, seconds",
                       cxxopts::value(o.window_s))(
      "settle", "seconds from the start to the window",
      cxxopts::value(o.settle_s))(
      "baseline", "LABEL=PATH: another tswatchdog binary, run beside this one",
      cxxopts::value(baselines))("quick", "a 10 s window after 25 s")(
      "h,help", "this help");
  auto args = parser.parse(argc, argv);
  if (args.count("help")) {
    std::printf("%s\n", parser.help().c_str());
    return 0;
  }
  if (args.count("quick")) {
    o.window_s = 10;
    o.settle_s = 25;
  }
  for (const std::string& b : baselines) {
    const size_t eq = b.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "bench_idle: --baseline LABEL=PATH, not '%s'\n",
                   b.c_str());
      return 2;
    }
    o.binaries.push_back({b.substr(0, eq), b.substr(eq + 1)});
  }
  // On tmpfs, like the default state file's /run/tswatchdog (on a disk,
  // each state write's fsync would block: more wake-ups).
  char tmpl[] = "/dev/shm/tswatchdog-idle-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  o.dir = tmpl;
  std::printf("bench_idle: %zu daemons in parallel for %d s, logs in %s\n",
              o.binaries.size(), o.settle_s + o.window_s, o.dir.c_str());
  std::fflush(stdout);
  const std::vector<nlohmann::json> results = bench::RunAll(o);
  bench::PrintTable(o, results);
  // The logs stay only when a run failed.
  bool failed = false;
  for (const nlohmann::json& r : results)
    failed = failed || r.contains("error");
  if (!failed) std::filesystem::remove_all(o.dir);
  return failed ? 1 : 0;
}
