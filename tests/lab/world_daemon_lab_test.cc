// The real `tswatchdog run` in the world (world.h), against the fake
// tailscaled on real sockets (tests/fake: `serve` in the router, `internet`
// in the world's internet), for the scenarios today's daemon heals. Every
// duration — the fake's and tswatchdog's defaults — times kScale. A
// scenario the daemon cannot heal yet is a row of benchmark 5, not a test here.
// The daemon's connection verdicts run at the same scale
// (TSWATCHDOG_LAB_TIME_SCALE).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "fake_tailscaled_process.h"
#include "tests/bench/heal_events.h"
#include "tests/lab/lab.h"
#include "tests/lab/scenarios.h"
#include "tests/lab/world.h"
#include "tests/lab/world_run.h"

namespace lab {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double kScale = 0.05;  // 20 times faster

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
    if (daemon_) EXPECT_EQ(daemon_->Stop(seconds(10)), 0);
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
  void StartDaemon() {
    std::ofstream(dir_ + "/tswatchdog.toml") << TswatchdogDefaultConfig(
        kScale, fake_->socket_path(), dir_ + "/state.json",
        "date +%s%3N >> " + dir_ + "/restarts; " + ctx_.OnTailscaledRestart() +
            "kill -HUP " + std::to_string(fake_->pid()));
    // The connection verdicts' thresholds at the fake's scale (lab only).
    daemon_ = std::make_unique<Child>(std::vector<std::string>{
        "/usr/bin/env", "TSWATCHDOG_LAB_TIME_SCALE=" + std::to_string(kScale),
        TSWATCHDOG_BINARY, "run", "--config", dir_ + "/tswatchdog.toml"});
  }

  // Sets up `id`, starts tailscaled and the daemon, waits for Online and a
  // healthy daemon, makes the scenario fail; returns the failure's time.
  int64_t StartAndFail(const std::string& id) {
    const Scenario* s = StartHealthy(id);
    const int64_t t0 = NowMs();
    s->fail(ctx_);
    return t0;
  }

  // The same up to a healthy daemon, without the failure.
  const Scenario* StartHealthy(const std::string& id) {
    const Scenario* s = FindScenario(id);
    EXPECT_NE(s, nullptr);
    s->setup(ctx_);
    StartTailscaled(*s);
    EXPECT_TRUE(fake::WaitUntil(
        [&] { return bench::CurrentOnline(bench::ReadEvents(events())); },
        seconds(10)));
    StartDaemon();
    EXPECT_TRUE(fake::WaitUntil(
        [&] {
          std::ifstream in(dir_ + "/state.json");
          json st = json::parse(in, nullptr, false);
          return !st.is_discarded() && st.value("state", "") == "healthy";
        },
        seconds(20)));
    return s;
  }

  // The daemon's view of tailscaled in its state file ("" until there).
  std::string TailscaleVerdict() const {
    std::ifstream in(dir_ + "/state.json");
    json st = json::parse(in, nullptr, false);
    if (st.is_discarded() || !st.contains("tailscale")) return "";
    const json& v = st["tailscale"].value("verdict", json());
    return v.is_string() ? v.get<std::string>() : "";
  }

  std::string dir_;
  std::unique_ptr<World> world_;
  ScenarioContext ctx_;
  std::unique_ptr<Child> internet_, daemon_;
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
};

// (a) and (e): tailscaled notices the change itself and redials; the daemon
// may kick (rebind) but takes no disruptive step.
void ExpectSelfHealed(const WorldDaemonLab& lab, int64_t t0,
                      const std::string& events, const std::string& dir,
                      const fake::FakeTailscaledProcess& fake) {
  std::optional<int64_t> healed;
  EXPECT_TRUE(fake::WaitUntil(
      [&] {
        healed =
            bench::HealedAt(bench::ReadEvents(events), t0,
                            NowMs() - static_cast<int64_t>(10000 * kScale));
        return healed.has_value();
      },
      seconds(20)));
  const bench::Steps steps =
      bench::CountSteps(fake.Requests(), dir + "/restarts", t0);
  EXPECT_EQ(steps.start + steps.reup + steps.restart, 0)
      << "start " << steps.start << ", reup " << steps.reup << ", restart "
      << steps.restart;
  (void)lab;
}

// (b), (b-vrrp), (f): tailscaled alone keeps its dead control connection for
// minutes (README, benchmark 5); the daemon sees it dead from the kernel's
// side and heals with `start`, nothing else disruptive. The deadline is 10 s
// of wall time (200 s of tailscaled's at kScale): tailscaled alone does not
// heal within it, and `start` is the daemon's.
void ExpectHealedByStart(int64_t t0, const std::string& events,
                         const std::string& dir,
                         const fake::FakeTailscaledProcess& fake) {
  std::optional<int64_t> healed;
  EXPECT_TRUE(fake::WaitUntil(
      [&] {
        healed =
            bench::HealedAt(bench::ReadEvents(events), t0,
                            NowMs() - static_cast<int64_t>(10000 * kScale));
        return healed.has_value();
      },
      seconds(10)))
      << "not healed";
  if (healed) {
    std::cout << "healed " << (*healed - t0) << " ms after the failure ("
              << (*healed - t0) / kScale / 1000 << " s at real scale)\n";
  }
  const bench::Steps steps =
      bench::CountSteps(fake.Requests(), dir + "/restarts", t0);
  EXPECT_EQ(steps.start, 1);
  EXPECT_EQ(steps.reup + steps.restart, 0)
      << "reup " << steps.reup << ", restart " << steps.restart;
}

TEST_F(WorldDaemonLab, NextHopFailoverIsHealedByStart) {
  const int64_t t0 = StartAndFail("b");
  ExpectHealedByStart(t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, VrrpTakeoverIsHealedByStart) {
  const int64_t t0 = StartAndFail("b-vrrp");
  ExpectHealedByStart(t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, NatRenumberedUpstreamIsHealedByStart) {
  const int64_t t0 = StartAndFail("f");
  ExpectHealedByStart(t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, FailoverTailscaledNoticesNeedsNoDisruptiveStep) {
  const int64_t t0 = StartAndFail("a");
  ExpectSelfHealed(*this, t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, RenumberedWanNeedsNoDisruptiveStep) {
  const int64_t t0 = StartAndFail("e");
  ExpectSelfHealed(*this, t0, events(), dir_, *fake_);
}

// A tailscaled that stops answering while nothing changes (SIGSTOP): no bus
// line comes, no uplink event. The periodic check sees the process stopped
// and asks for a status, which times out: unreachable within probe_interval
// + the LocalAPI call timeout (10 s, not scaled): 25 s at real scale.
TEST_F(WorldDaemonLab, AStoppedTailscaledIsNoticedWithinProbeIntervalAndACall) {
  StartHealthy("a");
  ASSERT_EQ(TailscaleVerdict(), "healthy");
  ASSERT_EQ(::kill(fake_->pid(), SIGSTOP), 0);
  const int64_t t0 = NowMs();
  const milliseconds bound =
      milliseconds(static_cast<int64_t>(15000 * kScale)) + seconds(10);
  const bool noticed = fake::WaitUntil(
      [&] { return TailscaleVerdict() == "unreachable"; }, bound + seconds(3));
  const int64_t took = NowMs() - t0;
  ::kill(fake_->pid(), SIGCONT);
  EXPECT_TRUE(noticed) << "still " << TailscaleVerdict();
  std::cout << "noticed " << took << " ms after SIGSTOP (bound "
            << bound.count() << " ms)\n";
}

}  // namespace
}  // namespace lab
