// Benchmark 5, "time to heal" (README, "Benchmarks"): per scenario of the
// catalogue (tests/lab/scenarios.h), how long after the failure tailscaled
// is Online again with control keep-alives flowing on a live path, and which
// disruptive steps it took, for three approaches: tailscaled alone, the
// polling script people run (tests/bench/poll_watchdog.sh: every 60 s,
// restart when `tailscale status` says offline), and `tswatchdog run` with
// its default config. Each run is a child process with its own namespaces
// (the world of tests/lab/world.h), the fake tailscaled on real sockets
// (tests/fake) and its servers in the world's internet; all runs go in
// parallel. Real-scale constants, each run capped at 5 minutes; --quick
// runs the same table with every duration (the fake's, mwan3track's,
// tswatchdog's defaults, the poll interval, the cap) times 0.05.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_tailscaled_process.h"
#include "tests/bench/heal_events.h"
#include "tests/lab/lab.h"
#include "tests/lab/scenarios.h"
#include "tests/lab/world.h"
#include "tests/lab/world_run.h"

namespace bench {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Options {
  double scale = 1.0;
  double cap_s = 300;
  std::vector<std::string> scenarios;
  std::vector<std::string> approaches = {"alone", "poll", "tswatchdog"};
  std::string dir;
};

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

milliseconds Scaled(const Options& o, double seconds) {
  return milliseconds(static_cast<int64_t>(seconds * o.scale * 1000));
}

// tswatchdog's default config, every duration times the scale (1: exactly
// the defaults). restart_command restarts the fake like systemd would.
std::string TswatchdogConfig(const Options& o, const std::string& socket,
                             const std::string& dir,
                             const std::string& restart) {
  return lab::TswatchdogDefaultConfig(o.scale, socket, dir + "/state.json",
                                      restart);
}

// One run, in a child process of its own (fresh network and mount
// namespaces). Returns the result as JSON.
class Run {
 public:
  Run(const Options& o, const lab::Scenario& s, std::string approach)
      : o_(o),
        s_(s),
        approach_(std::move(approach)),
        dir_(o.dir + "/" + s.id + "-" + approach_) {}

  json Go() {
    std::filesystem::create_directories(dir_ + "/mnt");
    if (auto p = lab::EnterFreshNetns(); !p.empty()) return Error(p);
    if (auto p = lab::EnterPrivateMounts(dir_ + "/mnt"); !p.empty()) {
      return Error(p);
    }
    lab::World world;
    lab::ScenarioContext ctx;
    ctx.world = &world;
    ctx.time_scale = o_.scale;
    ctx.mwan3_binary = MWAN3_STANDIN_BINARY;
    // mwan3's hotplug events, timed (a recorder beside mwan3's scripts).
    std::filesystem::create_directories("/etc/hotplug.d/iface");
    std::ofstream("/etc/hotplug.d/iface/90-bench")
        << "echo \"$(date +%s%3N) $ACTION $INTERFACE\" >> " << dir_
        << "/mwan3-events\n";
    s_.setup(ctx);
    StartTailscaled(world);
    ctx.tailscaled_events = dir_ + "/events.jsonl";
    const bool expect_online =
        s_.old_flow != lab::OldFlow::kNone &&
        std::find(s_.tailscaled_args.begin(), s_.tailscaled_args.end(),
                  "--down") == s_.tailscaled_args.end();
    if (expect_online &&
        !fake::WaitUntil([&] { return OnlineNow(); },
                         Scaled(o_, 60) + milliseconds(5000))) {
      return Error("tailscaled never came online before the failure");
    }
    StartApproach(ctx);
    const int64_t started = NowMs();
    s_.fail(ctx);
    const int64_t t0 = s_.measure_from_end ? NowMs() : started;
    if (!s_.tailscaled_ctl.empty()) fake_->Control(s_.tailscaled_ctl);
    return WaitHealed(t0);
  }

 private:
  json Error(const std::string& what) {
    return {{"scenario", s_.id}, {"approach", approach_}, {"error", what}};
  }

  bool OnlineNow() const {
    return CurrentOnline(ReadEvents(dir_ + "/events.jsonl"));
  }

  void StartTailscaled(lab::World& world) {
    const std::string scale = std::to_string(o_.scale);
    const std::string control =
        std::string(lab::kControlIp) + ":" + std::to_string(lab::kControlPort);
    const std::string derp =
        std::string(lab::kDerpIp) + ":" + std::to_string(lab::kDerpPort);
    internet_ = std::make_unique<lab::Child>(std::vector<std::string>{
        "/usr/bin/nsenter", "-t", std::to_string(world.internet().pid()), "-n",
        fake::FakeTailscaledProcess::BinaryPath(), "internet", "--control",
        control, "--derp", derp, "--time-scale", scale, "--events",
        dir_ + "/internet.jsonl"});
    std::vector<std::string> args = {
        "--control-server", control, "--derp-server", derp,
        "--time-scale",     scale,   "--events",      dir_ + "/events.jsonl"};
    args.insert(args.end(), s_.tailscaled_args.begin(),
                s_.tailscaled_args.end());
    fake_ = std::make_unique<fake::FakeTailscaledProcess>(args);
  }

  void StartApproach(const lab::ScenarioContext& ctx) {
    // A restarted tailscaled is a new process: a hung one answers again.
    const std::string restart =
        "date +%s%3N >> " + dir_ + "/restarts; " + ctx.OnTailscaledRestart() +
        fake::FakeTailscaledProcess::BinaryPath() + " ctl --control " +
        fake_->control_path() + " hang off >/dev/null; kill -HUP " +
        std::to_string(fake_->pid());
    if (approach_ == "poll") {
      approach_child_ = std::make_unique<lab::Child>(std::vector<std::string>{
          "/bin/sh", TSWATCHDOG_BENCH_DIR "/poll_watchdog.sh",
          fake_->socket_path(), std::to_string(60 * o_.scale), restart});
    } else if (approach_ == "tswatchdog") {
      std::ofstream(dir_ + "/tswatchdog.toml")
          << TswatchdogConfig(o_, fake_->socket_path(), dir_, restart);
      // The connection verdicts at the fake's scale (lab only).
      approach_child_ = std::make_unique<lab::Child>(std::vector<std::string>{
          "/usr/bin/env",
          "TSWATCHDOG_LAB_TIME_SCALE=" + std::to_string(o_.scale),
          TSWATCHDOG_BINARY, "run", "--config", dir_ + "/tswatchdog.toml",
          "--log-style", "plain"});
      // Let it reach its steady state first (healthy, or suppressed).
      fake::WaitUntil(
          [&] {
            std::ifstream in(dir_ + "/state.json");
            json st = json::parse(in, nullptr, false);
            return !st.is_discarded() && st.value("state", "") != "starting";
          },
          Scaled(o_, 60) + milliseconds(5000));
    }
  }

  json WaitHealed(int64_t t0) {
    const auto deadline = Clock::now() + Scaled(o_, o_.cap_s);
    const milliseconds confirm = Scaled(o_, 10);
    std::optional<int64_t> healed;
    while (Clock::now() < deadline) {
      healed = HealedAt(ReadEvents(dir_ + "/events.jsonl"), t0,
                        NowMs() - confirm.count());
      if (healed) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    const Steps steps = CountSteps(fake_->Requests(), dir_ + "/restarts", t0);
    int64_t disconnected_ms = -1;
    std::ifstream mwan3(dir_ + "/mwan3-events");
    for (std::string action, iface;
         mwan3 >> disconnected_ms >> action >> iface;) {
      if (action == "disconnected" && iface == "wan") break;
      disconnected_ms = -1;
    }
    json r = {{"scenario", s_.id},
              {"approach", approach_},
              {"heal_ms", healed ? *healed - t0 : -1},
              {"start", steps.start},
              {"reup", steps.reup},
              {"restart", steps.restart},
              {"mwan3_disconnected_ms",
               disconnected_ms < 0 ? -1 : disconnected_ms - t0}};
    if (approach_child_) approach_child_->Stop(milliseconds(10000));
    return r;
  }

  const Options& o_;
  const lab::Scenario& s_;
  std::string approach_, dir_;
  std::unique_ptr<lab::Child> internet_, approach_child_;
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
};

// Forks one child per run, all at once, and collects their results.
std::vector<json> RunAll(const Options& o) {
  struct Pending {
    pid_t pid;
    int fd;
    std::string output;
  };
  std::vector<Pending> pending;
  for (const auto& id : o.scenarios) {
    const lab::Scenario* s = lab::FindScenario(id);
    for (const auto& approach : o.approaches) {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
      const pid_t pid = fork();
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        const std::string log = o.dir + "/" + id + "-" + approach + ".log";
        const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        json r;
        try {
          r = Run(o, *s, approach).Go();
        } catch (const std::exception& e) {
          r = {{"scenario", id}, {"approach", approach}, {"error", e.what()}};
        }
        const std::string line = r.dump() + "\n";
        (void)!write(fds[1], line.data(), line.size());
        _exit(0);
      }
      close(fds[1]);
      pending.push_back({pid, fds[0], ""});
    }
  }
  std::vector<json> results;
  for (auto& p : pending) {
    char buf[4096];
    for (ssize_t n; (n = read(p.fd, buf, sizeof buf)) > 0;) {
      p.output.append(buf, static_cast<size_t>(n));
    }
    close(p.fd);
    waitpid(p.pid, nullptr, 0);
    json r = json::parse(p.output, nullptr, false);
    if (r.is_discarded()) r = {{"error", "the run died (see its log)"}};
    results.push_back(r);
  }
  return results;
}

// "- (down)" where the user switched tailscaled off: there is nothing to
// heal, only steps that should not have been taken.
std::string Cell(const json& r, double cap_s, bool user_down) {
  if (!r.is_object()) return "(not run)";
  if (r.contains("error")) return "error: " + r["error"].get<std::string>();
  const int64_t ms = r.value("heal_ms", int64_t{-1});
  char time[32];
  if (user_down) {
    std::snprintf(time, sizeof time, "- (down)");
  } else if (ms < 0 && cap_s >= 60) {
    std::snprintf(time, sizeof time, "> %.0f min", cap_s / 60);
  } else if (ms < 0) {
    std::snprintf(time, sizeof time, "> %.0f s", cap_s);
  } else if (ms < 60000) {
    std::snprintf(time, sizeof time, "%.1f s", ms / 1000.0);
  } else {
    std::snprintf(time, sizeof time, "%lldm%02llds",
                  static_cast<long long>(ms / 60000),
                  static_cast<long long>(ms / 1000 % 60));
  }
  std::string cell = time;
  for (const char* step : {"start", "reup", "restart"}) {
    const int n = r.value(step, 0);
    if (n > 0) cell += std::string(" ") + step + " " + std::to_string(n);
  }
  return cell;
}

void PrintTable(const Options& o, const std::vector<json>& results) {
  std::map<std::pair<std::string, std::string>, json> by;
  for (const auto& r : results) {
    by[{r.value("scenario", ""), r.value("approach", "")}] = r;
  }
  std::printf(
      "\n5. Time to heal: failure -> tailscaled Online again, with the "
      "disruptive steps taken after the failure%s\n",
      o.scale == 1.0 ? "" : " (--quick: every duration x 0.05)");
  const char* line =
      "------------------------------------------------------------"
      "----------------------------------------------------------";
  const std::map<std::string, std::string> names = {
      {"alone", "tailscaled alone"},
      {"poll", "poll script (60 s, restart)"},
      {"tswatchdog", "tswatchdog run (defaults)"}};
  std::printf("%s\n%-9s", line, "scenario");
  for (const auto& a : o.approaches) {
    auto it = names.find(a);
    std::printf(" %-*s", a == "alone" ? 32 : 24,
                it == names.end() ? a.c_str() : it->second.c_str());
  }
  std::printf("\n%s\n", line);
  for (const auto& id : o.scenarios) {
    const auto& args = lab::FindScenario(id)->tailscaled_args;
    const bool down =
        std::find(args.begin(), args.end(), "--down") != args.end();
    std::printf("%-9s", id.c_str());
    for (const auto& a : o.approaches) {
      std::printf(" %-*s", a == "alone" ? 32 : 24,
                  Cell(by[{id, a}], o.cap_s * o.scale, down).c_str());
    }
    std::printf("\n");
  }
  std::printf("%s\n", line);
  for (const auto& id : o.scenarios) {
    const lab::Scenario* s = lab::FindScenario(id);
    std::printf("%-8s %s; heals by: %s\n", id.c_str(), s->title.c_str(),
                s->heals_by.c_str());
    const json& alone = by[{id, "alone"}];
    const int64_t ms = alone.is_object()
                           ? alone.value("mwan3_disconnected_ms", int64_t{-1})
                           : -1;
    if (ms >= 0) {
      std::printf(
          "         mwan3track fired `disconnected` for wan %.1f s "
          "after the failure\n",
          ms / 1000.0);
    }
  }
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::Options o;
  cxxopts::Options parser("bench_heal", "benchmark 5: time to heal");
  std::string scenarios, approaches;
  parser.add_options()("quick", "every duration x 0.05")(
      "scenarios", "comma-separated ids (default: all)",
      cxxopts::value(scenarios))("approaches", "alone,poll,tswatchdog",
                                 cxxopts::value(approaches))(
      "dir", "work directory (default: a new one under /tmp)",
      cxxopts::value(o.dir))("h,help", "this help");
  auto args = parser.parse(argc, argv);
  if (args.count("help")) {
    std::printf("%s\n", parser.help().c_str());
    return 0;
  }
  if (args.count("quick")) o.scale = 0.05;
  auto split = [](const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) out.push_back(item);
    return out;
  };
  for (const auto& s : lab::Catalogue()) {
    if (scenarios.empty()) o.scenarios.push_back(s.id);
  }
  if (!scenarios.empty()) o.scenarios = split(scenarios);
  for (const auto& id : o.scenarios) {
    if (!lab::FindScenario(id)) {
      std::fprintf(stderr, "bench_heal: no scenario '%s'\n", id.c_str());
      return 2;
    }
  }
  if (!approaches.empty()) o.approaches = split(approaches);
  if (o.dir.empty()) {
    char tmpl[] = "/tmp/tswatchdog-heal-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    o.dir = tmpl;
  }
  std::printf("bench_heal: %zu runs in parallel, logs in %s\n",
              o.scenarios.size() * o.approaches.size(), o.dir.c_str());
  std::fflush(stdout);
  const auto started = bench::Clock::now();
  bench::PrintTable(o, bench::RunAll(o));
  std::printf(
      "wall time %.0f s\n",
      std::chrono::duration<double>(bench::Clock::now() - started).count());
  return 0;
}
