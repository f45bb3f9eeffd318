// The fixture of the world daemon lab tests (world_daemon_lab_test.cc,
// mwan3_daemon_lab_test.cc): the world (world.h) with a scenario set up,
// the fake tailscaled on real sockets (tests/fake: `serve` in the router,
// `internet` in the world's internet) and the real `tswatchdog run`, every
// duration — the fake's, mwan3's and tswatchdog's defaults — times kScale.
#ifndef TSWATCHDOG_TESTS_LAB_WORLD_DAEMON_LAB_H_
#define TSWATCHDOG_TESTS_LAB_WORLD_DAEMON_LAB_H_

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fake_tailscaled_process.h"
#include "tests/bench/heal_events.h"
#include "tests/lab/lab.h"
#include "tests/lab/scenarios.h"
#include "tests/lab/world.h"
#include "tests/lab/world_run.h"

namespace lab {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double kScale = 0.05;  // 20 times faster

inline int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// When tailscaled healed after `t0` (Online, a control connection dialed
// since and alive 10 s scaled later), waiting up to `deadline`; nullopt if
// it did not.
inline std::optional<int64_t> WaitHealed(const std::string& events, int64_t t0,
                                         seconds deadline) {
  std::optional<int64_t> healed;
  fake::WaitUntil(
      [&] {
        healed =
            bench::HealedAt(bench::ReadEvents(events), t0,
                            NowMs() - static_cast<int64_t>(10000 * kScale));
        return healed.has_value();
      },
      deadline);
  return healed;
}

class WorldDaemonLab : public ::testing::Test {
 protected:
  void SetUp() override {
    // Needs the fake tailscaled on real sockets (`fake_tailscaled internet`).
    if (Sh(fake::FakeTailscaledProcess::BinaryPath() +
           " serve --help 2>&1 | grep -q -- --control-server") != 0) {
      GTEST_SKIP() << "this fake_tailscaled has no network mode";
    }
    LAB_ENTER_NETNS_OR_SKIP();
    char tmpl[] = "/tmp/tswatchdog-worldd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(Sh("mkdir -p " + dir_ + "/mnt"), 0);
    ASSERT_EQ(EnterPrivateMounts(dir_ + "/mnt"), "");
    world_ = std::make_unique<World>();
    ctx_.world = world_.get();
    ctx_.time_scale = kScale;
    ctx_.mwan3_binary = MWAN3_STANDIN_BINARY;
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->Stop(seconds(10)), 0);
    }
    daemon_.reset();
    fake_.reset();
    internet_.reset();
    if (ctx_.mwan3) ctx_.mwan3->Stop(seconds(5));  // its trackers too
    ctx_.mwan3.reset();
    world_.reset();
    if (dir_.empty()) return;
    umount2("/etc", MNT_DETACH);
    umount2("/run", MNT_DETACH);
    umount2((dir_ + "/mnt").c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir_);
  }

  std::string events() const { return dir_ + "/events.jsonl"; }

  void StartTailscaled(const Scenario& s) {
    const std::string scale = std::to_string(kScale);
    const std::string control =
        std::string(kControlIp) + ":" + std::to_string(kControlPort);
    const std::string derp =
        std::string(kDerpIp) + ":" + std::to_string(kDerpPort);
    internet_ = std::make_unique<Child>(std::vector<std::string>{
        "/usr/bin/nsenter", "-t", std::to_string(world_->internet().pid()),
        "-n", fake::FakeTailscaledProcess::BinaryPath(), "internet",
        "--control", control, "--derp", derp, "--time-scale", scale});
    std::vector<std::string> args = {
        "--control-server", control, "--derp-server", derp,
        "--time-scale",     scale,   "--events",      events()};
    args.insert(args.end(), s.tailscaled_args.begin(), s.tailscaled_args.end());
    fake_ = std::make_unique<fake::FakeTailscaledProcess>(args);
    ctx_.tailscaled_events = events();
  }

  // tswatchdog's defaults times kScale; restart_command restarts the fake.
  // `extra`: more config lines; `flags`: more arguments of `run`; with
  // `capture_log`, its log is readable through daemon_.
  void StartDaemon(const std::string& extra = "",
                   const std::vector<std::string>& flags = {},
                   bool capture_log = false) {
    std::ofstream(dir_ + "/tswatchdog.toml")
        << TswatchdogDefaultConfig(
               kScale, fake_->socket_path(), dir_ + "/state.json",
               "date +%s%3N >> " + dir_ + "/restarts; " +
                   ctx_.OnTailscaledRestart() + "kill -HUP " +
                   std::to_string(fake_->pid()))
        << extra;
    // The connection verdicts' thresholds at the fake's scale (lab only).
    std::vector<std::string> argv = {
        "/usr/bin/env",
        "TSWATCHDOG_LAB_TIME_SCALE=" + std::to_string(kScale),
        TSWATCHDOG_BINARY,
        "run",
        "--config",
        dir_ + "/tswatchdog.toml"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    daemon_ = std::make_unique<Child>(argv, capture_log);
  }

  // Sets up `id`, starts tailscaled and the daemon, waits for Online and a
  // healthy daemon, makes the scenario fail; returns the failure's time.
  int64_t StartAndFail(const std::string& id, const std::string& extra = "") {
    const Scenario* s = StartHealthy(id, extra);
    const int64_t t0 = NowMs();
    s->fail(ctx_);
    return t0;
  }

  // The same up to a healthy daemon, without the failure.
  const Scenario* StartHealthy(const std::string& id,
                               const std::string& extra = "") {
    const Scenario* s = SetUpScenario(id);
    StartDaemon(extra);
    EXPECT_TRUE(fake::WaitUntil(
        [&] { return State().value("state", "") == "healthy"; }, seconds(20)));
    return s;
  }

  // The daemon's view of tailscaled in its state file ("" until there).
  std::string TailscaleVerdict() const {
    const json st = State();
    if (!st.contains("tailscale") || !st["tailscale"].is_object()) return "";
    const json v = st["tailscale"].value("verdict", json());
    return v.is_string() ? v.get<std::string>() : "";
  }

  // Sets `id` up (routes, mwan3 with a recorder of its hotplug events that
  // runs first, before mwan3's own 15-mwan3), starts tailscaled and waits
  // until it is Online.
  const Scenario* SetUpScenario(const std::string& id) {
    const Scenario* s = FindScenario(id);
    EXPECT_NE(s, nullptr);
    std::filesystem::create_directories("/etc/hotplug.d/iface");
    std::ofstream("/etc/hotplug.d/iface/00-record")
        << "echo \"$(date +%s%3N) $ACTION $INTERFACE\" >> " << dir_
        << "/mwan3-events\n";
    s->setup(ctx_);
    StartTailscaled(*s);
    EXPECT_TRUE(fake::WaitUntil(
        [&] { return bench::CurrentOnline(bench::ReadEvents(events())); },
        seconds(10)));
    return s;
  }

  // The daemon's state file ({} while there is none).
  json State() const {
    std::ifstream in(dir_ + "/state.json");
    json st = json::parse(in, nullptr, false);
    return st.is_discarded() ? json::object() : st;
  }

  // When mwan3 ran its hotplug scripts with ACTION=`action` for `iface`
  // (the last time, at or after `after`), Unix ms.
  std::optional<int64_t> Mwan3Event(const std::string& action,
                                    const std::string& iface,
                                    int64_t after = 0) const {
    std::optional<int64_t> at;
    std::ifstream in(dir_ + "/mwan3-events");
    int64_t ms = 0;
    for (std::string a, i; in >> ms >> a >> i;) {
      if (a == action && i == iface && ms >= after) at = ms;
    }
    return at;
  }

  std::string dir_;
  std::unique_ptr<World> world_;
  ScenarioContext ctx_;
  std::unique_ptr<Child> internet_, daemon_;
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
};

}  // namespace lab

#endif  // TSWATCHDOG_TESTS_LAB_WORLD_DAEMON_LAB_H_
