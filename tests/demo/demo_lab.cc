// The README's demo (`bash scripts/demo.sh`): one silent failover, twice.
// Scenario (b) of the world (tests/lab/scenarios.h; --scenario picks another):
// wan0's default moves to a backup router on the same segment that NATs
// elsewhere and drops the flows it does not know; tailscaled's netmon sees
// nothing (same interface, same address). Two identical worlds run side by
// side, each in a child process with its own namespaces, the fake tailscaled
// on real sockets at tailscaled's real timing (time scale 1), and fail at the
// same instant:
//   1. tailscaled alone: watched for a stretch, printed live, with what the
//      kernel says about its connections (the evidence tswatchdog acts on);
//   2. the same with `tswatchdog run` (default config): its log, its
//      diagnosis and its steps, until tailscaled is healed or the cap.
// --summary FILE writes the story as JSON (tests/demo/demo_lab_test.cc);
// --time-scale runs it faster. Everything it creates lives in the children's
// network and mount namespaces (/tmp included) and goes with them, on Ctrl-C
// too. How it prints: report.h.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/demo/evidence.h"
#include "tests/demo/report.h"
#include "tests/lab/lab.h"
#include "tests/lab/scenarios.h"
#include "tests/lab/world.h"
#include "tests/lab/world_run.h"

namespace demo {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// Mounts a private tmpfs on /tmp, keeping the directories under /tmp that
// hold this program and tswatchdog (a checkout in /tmp, as CI makes one)
// visible at the same paths: each is opened before the mount and bound back
// over a directory of the new /tmp.
std::string PrivateTmpKeepingOurBinaries() {
  std::vector<std::string> keep;
  for (const std::string& path :
       {std::filesystem::read_symlink("/proc/self/exe").string(),
        std::string(TSWATCHDOG_BINARY)}) {
    const std::filesystem::path rel =
        std::filesystem::path(path).lexically_relative("/tmp");
    if (rel.empty() || *rel.begin() == "..") continue;
    const std::string top = "/tmp/" + rel.begin()->string();
    if (std::find(keep.begin(), keep.end(), top) == keep.end()) {
      keep.push_back(top);
    }
  }
  std::vector<int> fds;
  for (const std::string& dir : keep) {
    const int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return "open " + dir + ": " + std::strerror(errno);
    fds.push_back(fd);
  }
  std::string problem;
  if (mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") != 0) {
    problem = std::string("a private /tmp: ") + std::strerror(errno);
  }
  for (size_t i = 0; i < keep.size() && problem.empty(); ++i) {
    const std::string from = "/proc/self/fd/" + std::to_string(fds[i]);
    std::filesystem::create_directories(keep[i]);
    if (mount(from.c_str(), keep[i].c_str(), nullptr, MS_BIND, nullptr) != 0) {
      problem = "bind " + keep[i] + ": " + std::strerror(errno);
    }
  }
  for (int fd : fds) close(fd);
  return problem;
}

// One half of the demo, inside a child process: a world of its own,
// tailscaled in it, with or without tswatchdog.
class Half {
 public:
  Half(const Options& o, bool with_tswatchdog, int ready_fd, int go_fd)
      : o_(o), with_(with_tswatchdog), ready_fd_(ready_fd), go_fd_(go_fd) {}

  json Go() {
    Prepare();
    const std::string ready = "ready\n";
    (void)!write(ready_fd_, ready.data(), ready.size());
    char go = 0;
    if (read(go_fd_, &go, 1) != 1) return {{"error", "no go from the demo"}};
    const int64_t t0 = lab::UnixNowMs();
    scenario_->fail(ctx_);
    return with_ ? Watched(t0) : Alone(t0);
  }

 private:
  // Fresh namespaces, a tmpfs on /tmp (nothing left behind; a checkout
  // under /tmp stays visible), the world,
  // scenario (b)'s routes, tailscaled online (and tswatchdog healthy).
  void Prepare() {
    spdlog::set_level(spdlog::level::warn);  // the Watcher's resyncs
    if (auto p = lab::EnterFreshNetns(); !p.empty()) throw Error(p);
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      throw Error(std::string("a private mount namespace: ") +
                  std::strerror(errno));
    }
    if (auto p = PrivateTmpKeepingOurBinaries(); !p.empty()) throw Error(p);
    std::filesystem::create_directories("/tmp/mnt");
    if (auto p = lab::EnterPrivateMounts("/tmp/mnt"); !p.empty())
      throw Error(p);
    dir_ = "/tmp/run";
    std::filesystem::create_directories(dir_);
    scenario_ = lab::FindScenario(o_.scenario);
    world_ = std::make_unique<lab::World>();
    ctx_.world = world_.get();
    ctx_.time_scale = o_.scale;
    scenario_->setup(ctx_);
    ts_ = std::make_unique<lab::TailscaledInWorld>(*world_, *scenario_,
                                                   o_.scale, dir_);
    ctx_.tailscaled_events = ts_->events_path();
    if (!fake::WaitUntil([&] { return ts_->Online(); },
                         Scaled(o_, 60) + milliseconds(10000))) {
      throw Error("tailscaled never came online");
    }
    evidence_ = std::make_unique<EvidenceReader>(o_.scale);
    if (with_) StartTswatchdog();
    routes_before_ = evidence_->Read().routes;
  }

  void StartTswatchdog() {
    ts_->StartTswatchdog(TSWATCHDOG_BINARY, ctx_);
    const auto deadline =
        std::chrono::steady_clock::now() + Scaled(o_, 60) + milliseconds(10000);
    while (ts_->State().value("state", "") != "healthy") {
      if (std::chrono::steady_clock::now() > deadline) {
        throw Error("tswatchdog never got healthy");
      }
      Pump(milliseconds(100));
    }
  }

  static std::runtime_error Error(const std::string& what) {
    return std::runtime_error(what);
  }

  // Reads tswatchdog's log lines for up to `wait`, each with its time.
  void Pump(milliseconds wait) {
    std::string line;
    lab::Child* d = ts_->tswatchdog();
    if (d == nullptr || !d->ReadLine(&line, wait)) return;
    log_.push_back({lab::UnixNowMs(), line});
    while (d->ReadLine(&line, milliseconds(0))) {
      log_.push_back({lab::UnixNowMs(), line});
    }
  }

  json EvidenceJson() {
    const Evidence e = evidence_->Read();
    json verdicts = json::array();
    for (const auto& v : e.verdicts) {
      verdicts.push_back({{"verdict", watchdog::VerdictName(v.verdict)},
                          {"evidence", v.evidence}});
    }
    return {{"verdicts", verdicts},
            {"routes", e.routes},
            {"routes_before", routes_before_},
            {"error", e.error}};
  }

  // What tailscaled says (its Self.Online, as GET status reports it) and
  // what the kernel says, every seventh of the stretch.
  void SayNow(int64_t t0) {
    const json e = EvidenceJson();
    const bool online = ts_->fake().Get().value("online", false);
    Say("  " + Seconds(lab::UnixNowMs() - t0) +
        "  tailscaled says Online: " + (online ? "true" : "false"));
    for (const auto& v : e["verdicts"]) {
      Say("           kernel: " + v["evidence"].get<std::string>() + "  [" +
          v["verdict"].get<std::string>() + "]");
    }
  }

  json Alone(int64_t t0) {
    const milliseconds stretch = Scaled(o_, o_.alone_s);
    const milliseconds step = stretch / 7;
    Say("  " + Seconds(0) + "  FAILOVER: " + scenario_->title);
    for (int i = 1; i <= 7; ++i) {
      std::this_thread::sleep_for(step);
      SayNow(t0);
    }
    const auto events = ts_->Events();
    json result = {{"half", "alone"},
                   {"scenario", scenario_->id},
                   {"stretch_ms", stretch.count()},
                   {"healed", ts_->HealedAt(t0, milliseconds(0)).has_value()},
                   {"online_says", ts_->fake().Get().value("online", false)},
                   {"control_connected_since", CountSince(events, t0)},
                   {"evidence", EvidenceJson()}};
    const bench::Steps s = ts_->StepsSince(t0);
    result["steps"] = {
        {"start", s.start}, {"reup", s.reup}, {"restart", s.restart}};
    return result;
  }

  static int CountSince(const std::vector<json>& events, int64_t t0) {
    int n = 0;
    for (const auto& e : events) {
      if (bench::Kind(e) == "control-connected" &&
          e.value("unix_ms", int64_t{0}) >= t0) {
        ++n;
      }
    }
    return n;
  }

  // The new control connection must live 3 s (scaled) to count.
  json Watched(int64_t t0) {
    const auto deadline =
        std::chrono::steady_clock::now() + Scaled(o_, o_.cap_s);
    std::optional<int64_t> healed;
    while (std::chrono::steady_clock::now() < deadline) {
      healed = ts_->HealedAt(t0, Scaled(o_, 3));
      if (healed) break;
      NoteDiagnosis();
      Pump(milliseconds(100));
    }
    Pump(milliseconds(200));
    const bench::Steps s = ts_->StepsSince(t0);
    json result = {{"half", "tswatchdog"},
                   {"t0_ms", t0},
                   {"cap_ms", Scaled(o_, o_.cap_s).count()},
                   {"healed", healed.has_value()},
                   {"heal_ms", healed ? *healed - t0 : -1},
                   {"steps",
                    {{"start", s.start},
                     {"reup", s.reup},
                     {"restart", s.restart},
                     {"rebind", Rebinds(t0)}}},
                   {"state", ts_->State()},
                   {"diagnosis", diagnosis_},
                   {"timeline", Timeline(t0)}};
    return result;
  }

  int Rebinds(int64_t t0) {
    int n = 0;
    for (const auto& r : ts_->fake().Requests()) {
      if (r.value("unix_ms", int64_t{0}) >= t0 &&
          r.value("target", "") == "/localapi/v0/debug?action=rebind") {
        ++n;
      }
    }
    return n;
  }

  // tswatchdog's log and tailscaled's own events after the failure, in
  // time order: [ms since the failure, who, text].
  json Timeline(int64_t t0) {
    std::vector<std::tuple<int64_t, std::string, std::string>> rows;
    for (const auto& [ms, line] : log_) {
      if (ms >= t0) rows.emplace_back(ms - t0, "tswatchdog", Shorten(line));
    }
    for (const auto& e : ts_->Events()) {
      const int64_t ms = e.value("unix_ms", int64_t{0});
      if (ms < t0) continue;
      if (auto text = DescribeEvent(e); !text.empty()) {
        rows.emplace_back(ms - t0, "tailscaled", text);
      }
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) {
                       return std::get<0>(a) < std::get<0>(b);
                     });
    json out = json::array();
    for (const auto& [ms, who, text] : rows) out.push_back({ms, who, text});
    return out;
  }

  // A log line for the timeline: no "info: " prefix, at most 150
  // characters (the uplink's description is long).
  static std::string Shorten(std::string line) {
    if (line.rfind("info: ", 0) == 0) line.erase(0, 6);
    if (line.size() > 150) line = line.substr(0, 146) + " ...";
    return line;
  }

  // Remembers the daemon's diagnosis while it names a fault (its state
  // file's `diagnosis`, issue 12): the one behind its step.
  void NoteDiagnosis() {
    const json st = ts_->State();
    const json d = st.value("diagnosis", json());
    if (d.is_object() && d.contains("fault") && !d["fault"].is_null()) {
      diagnosis_ = d.value("summary", std::string());
    }
  }

  static std::string DescribeEvent(const json& e) {
    const std::string kind = bench::Kind(e);
    if (kind == "online") {
      return std::string("Self.Online ") +
             (e.value("value", false) ? "true" : "false") + " (" +
             e.value("why", "") + ")";
    }
    if (kind == "step") return "was asked: " + e.value("step", "");
    if (kind == "control-dial") {
      return "control dial from " + e.value("local", "");
    }
    if (kind == "control-connected") return "control connected";
    if (kind == "control-closed") return "control connection closed";
    if (kind == "health") return "health on the bus: " + e["visible"].dump();
    return "";
  }

  const Options& o_;
  bool with_;
  int ready_fd_, go_fd_;
  std::string dir_;
  const lab::Scenario* scenario_ = nullptr;
  std::unique_ptr<lab::World> world_;
  lab::ScenarioContext ctx_;
  std::unique_ptr<lab::TailscaledInWorld> ts_;
  std::unique_ptr<EvidenceReader> evidence_;
  std::vector<std::pair<int64_t, std::string>> log_;
  std::vector<std::string> routes_before_;
  std::string diagnosis_;  // the last that named a fault
};

}  // namespace
}  // namespace demo

namespace demo {
namespace {

// The halves' process groups, for the signal handler.
pid_t g_groups[2] = {0, 0};
// Our ends of the halves' pipes (a half forked later closes them).
std::vector<int> g_parent_fds;

void KillHalvesAndExit(int sig) {
  for (pid_t g : g_groups) {
    if (g > 0) kill(-g, SIGKILL);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

struct Running {
  pid_t pid = -1;
  int ready = -1;   // the half says "ready"
  int go = -1;      // we say go
  int result = -1;  // its JSON result
};

// Forks a half: a process group of its own (so that a signal reaches all it
// started), dying with us.
Running Fork(const Options& o, bool with_tswatchdog) {
  int ready[2], go[2], result[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0 ||
      pipe2(result, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2");
  }
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Only our own ends of the pipes: a half must see EOF when we go.
    for (int fd : g_parent_fds) close(fd);
    close(ready[0]);
    close(go[1]);
    close(result[0]);
    // The fake's processes log to stderr; the half speaks through its
    // result (and the one alone on stdout, live).
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (!std::getenv("DEMO_LAB_STDERR")) dup2(null, STDERR_FILENO);
    if (with_tswatchdog) dup2(null, STDOUT_FILENO);
    json r;
    try {
      r = Half(o, with_tswatchdog, ready[1], go[0]).Go();
    } catch (const std::exception& e) {
      r = {{"error", e.what()}};
      (void)!write(ready[1], "error\n", 6);
    }
    const std::string line = r.dump() + "\n";
    (void)!write(result[1], line.data(), line.size());
    _exit(0);
  }
  setpgid(pid, pid);
  g_groups[with_tswatchdog ? 1 : 0] = pid;
  close(ready[1]);
  close(go[0]);
  close(result[1]);
  g_parent_fds.insert(g_parent_fds.end(), {ready[0], go[1], result[0]});
  return {pid, ready[0], go[1], result[0]};
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

json Collect(Running& r) {
  json out = json::parse(ReadAll(r.result), nullptr, false);
  close(r.result);
  waitpid(r.pid, nullptr, 0);
  if (out.is_discarded()) out = {{"error", "the half died"}};
  return out;
}

// Both halves ready (tailscaled online; tswatchdog healthy), or an error.
bool WaitReady(Running (&halves)[2]) {
  for (auto& h : halves) {
    char buf[16] = {};
    if (read(h.ready, buf, sizeof buf - 1) <= 0 ||
        std::string(buf) != "ready\n") {
      return false;
    }
  }
  return true;
}

int Main(const Options& o) {
  signal(SIGINT, KillHalvesAndExit);
  signal(SIGTERM, KillHalvesAndExit);
  signal(SIGHUP, KillHalvesAndExit);
  const lab::Scenario* scenario = lab::FindScenario(o.scenario);
  if (scenario == nullptr) {
    std::fprintf(stderr, "demo_lab: no scenario '%s'\n", o.scenario.c_str());
    return 2;
  }
  PrintIntro(o, *scenario);
  Running halves[2] = {Fork(o, false), Fork(o, true)};
  const bool ready = WaitReady(halves);
  if (ready) {
    Title(o, "1. tailscaled alone (watched live)");
    for (auto& h : halves) (void)!write(h.go, "g", 1);
  }
  for (auto& h : halves) close(h.go);
  const json alone = Collect(halves[0]);
  const json watched = Collect(halves[1]);
  bool failed = false;
  for (const json* r : {&alone, &watched}) {
    if (r->contains("error")) {
      Say("demo: " + (*r)["error"].get<std::string>());
      failed = true;
    }
  }
  if (failed) return 1;
  PrintAloneVerdict(alone);
  PrintWatched(o, watched);
  if (!o.summary.empty()) {
    std::ofstream(o.summary)
        << json{{"alone", alone}, {"tswatchdog", watched}}.dump(2) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace demo

int main(int argc, char** argv) {
  demo::Options o;
  cxxopts::Options parser("demo_lab", "the README's demo: scenario (b) twice");
  parser.add_options()("time-scale", "every duration times this (1: real)",
                       cxxopts::value(o.scale))(
      "alone", "seconds tailscaled alone is watched (scaled)",
      cxxopts::value(o.alone_s))("cap",
                                 "seconds tswatchdog gets to heal it (scaled)",
                                 cxxopts::value(o.cap_s))(
      "scenario", "the catalogue's id (default b)", cxxopts::value(o.scenario))(
      "summary", "write the story as JSON here", cxxopts::value(o.summary))(
      "h,help", "this help");
  try {
    auto args = parser.parse(argc, argv);
    if (args.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo_lab: %s\n", e.what());
    return 2;
  }
  const char* term = std::getenv("TERM");
  o.styled = isatty(STDOUT_FILENO) && term && std::string(term) != "dumb";
  return demo::Main(o);
}
