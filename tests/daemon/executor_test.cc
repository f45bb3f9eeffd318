// The executor (Daemon) over fake ports: what it asks of tailscaled, which
// children it starts, which hooks run in which order, what it publishes.
// The clock is fake and moved by hand: a failover healed after two minutes
// of backoff runs in a millisecond, without root or sockets.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/daemon/fakes.h"
#include "watchdog/daemon/daemon.h"

namespace watchdog {
namespace {

using namespace std::chrono_literals;
using testing::FakeProcesses;
using testing::FakePublisher;
using testing::FakeTailscaled;
using testing::FakeTimers;
using testing::FakeUplink;
using Strings = std::vector<std::string>;

const Strings kRestartTailscaled = {"systemctl", "restart",
                                    "tailscaled.service"};
const Strings kRebindRequests = {"POST debug?action=rebind",
                                 "POST debug?action=restun"};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    processes_.on_run = [this](const FakeProcesses::Call& call) {
      if (call.argv == config_.restart_command) {
        tailscaled_.Heals(LadderStep::kRestart);
      }
    };
  }

  ActuatorPorts Ports() {
    return {tailscaled_, processes_,
            [this](std::span<const netlink::OldSource> old,
                   const netlink::ConntrackOptions& options) {
              conntrack_runs_.emplace_back(old.begin(), old.end());
              conntrack_dry_runs_.push_back(options.dry_run);
              netlink::ConntrackResult result;
              result.matched.assign(old.size(), 1);
              result.deleted.assign(old.size(), options.dry_run ? 0 : 1);
              if (!options.dry_run) tailscaled_.Heals(LadderStep::kConntrack);
              return result;
            },
            [this](const std::string&, std::string*) { return hooks_; },
            [](const std::string& unit) {
              return Strings{"systemctl", "restart", unit};
            }};
  }

  void Start() {
    daemon_ = std::make_unique<Daemon>(
        config_, DaemonSettings{},
        DaemonPorts{timers_, uplink_, tailscaled_, publisher_, live_, dry_});
    daemon_->Start();
    Run(0ms);
  }
  // The loop for `duration`: every timer due in it, then one flush.
  void Run(std::chrono::milliseconds duration) {
    timers_.Advance(duration);
    daemon_->FlushIfDirty();
  }
  // Started and healthy after the first grace; the logs cleared.
  void BootHealthy() {
    Start();
    Run(1min);
    ASSERT_EQ(State(), State::kHealthy);
    tailscaled_.requests.clear();
    processes_.calls.clear();
  }
  void Failover() {
    tailscaled_.Break();
    uplink_.MoveTo(testing::Wan1());
  }
  // The LocalAPI requests other than status reads.
  Strings Writes() const {
    Strings writes;
    for (const std::string& r : tailscaled_.requests) {
      if (r != "GET status") writes.push_back(r);
    }
    return writes;
  }
  watchdog::State State() const { return daemon_->TakeSnapshot().state; }

  FakeTimers timers_;
  FakeUplink uplink_;
  FakeTailscaled tailscaled_{timers_};
  FakeProcesses processes_{timers_};
  FakePublisher publisher_;
  Strings hooks_;
  std::vector<std::vector<netlink::OldSource>> conntrack_runs_;
  std::vector<bool> conntrack_dry_runs_;
  LiveActuator live_{Ports()};
  DryRunActuator dry_{Ports()};
  config::Config config_;
  std::unique_ptr<Daemon> daemon_;
};

Strings Concat(std::initializer_list<Strings> parts) {
  Strings all;
  for (const Strings& part : parts)
    all.insert(all.end(), part.begin(), part.end());
  return all;
}

TEST_F(ExecutorTest, BootKicksOnceAndIsHealthyAfterGrace) {
  Start();
  EXPECT_EQ(Writes(), kRebindRequests);  // the soft kick
  EXPECT_EQ(State(), State::kVerifying);
  Run(config_.grace);
  EXPECT_EQ(State(), State::kHealthy);
  EXPECT_EQ(Writes(), kRebindRequests);
}

TEST_F(ExecutorTest, FailoverHealedByStartAfterTheKickAndRebind) {
  BootHealthy();
  Failover();
  Run(5min);
  EXPECT_EQ(Writes(), Concat({kRebindRequests,    // soft kick
                              kRebindRequests,    // step 1
                              {"POST start"}}));  // step 2: healed
  const Snapshot snapshot = daemon_->TakeSnapshot();
  EXPECT_EQ(snapshot.state, State::kHealthy);
  EXPECT_EQ(snapshot.counters.recoveries, 1u);
  EXPECT_EQ(snapshot.counters.actions.at("rebind"), 3u);  // boot kick too
  EXPECT_EQ(snapshot.counters.actions.at("start"), 1u);
  ASSERT_TRUE(snapshot.last_action.has_value());
  EXPECT_EQ(snapshot.last_action->step, LadderStep::kStart);
  EXPECT_TRUE(snapshot.last_action->finished && snapshot.last_action->ok);
}

// Each step alone in the ladder, no kick: what it sends or runs.
struct StepCase {
  LadderStep step;
  Strings writes;
  Strings process;  // argv run, if any
  bool conntrack = false;
};

class LadderStepTest : public ExecutorTest,
                       public ::testing::WithParamInterface<StepCase> {};

TEST_P(LadderStepTest, RunsItsRequestsAndHeals) {
  const StepCase& c = GetParam();
  config_.ladder = {c.step};
  config_.kick_on_change = false;
  tailscaled_.heals = {c.step};
  BootHealthy();
  Failover();
  Run(2min);
  EXPECT_EQ(Writes(), c.writes);
  EXPECT_EQ(processes_.calls.size(), c.process.empty() ? 0u : 1u);
  if (!c.process.empty()) EXPECT_EQ(processes_.calls[0].argv, c.process);
  if (c.conntrack) {
    ASSERT_EQ(conntrack_runs_.size(), 1u);
    ASSERT_EQ(conntrack_runs_[0].size(), 1u);  // wan0's source is old
    EXPECT_EQ(conntrack_runs_[0][0].address.ToString(), "198.51.100.2");
    EXPECT_EQ(conntrack_runs_[0][0].dev, "wan0");
    EXPECT_FALSE(conntrack_dry_runs_[0]);
  } else {
    EXPECT_TRUE(conntrack_runs_.empty());
  }
  EXPECT_EQ(State(), State::kHealthy);
  EXPECT_EQ(daemon_->TakeSnapshot().counters.recoveries, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, LadderStepTest,
    ::testing::Values(StepCase{LadderStep::kRebind, kRebindRequests, {}},
                      StepCase{LadderStep::kStart, {"POST start"}, {}},
                      StepCase{LadderStep::kReup,
                               {"GET prefs", "PATCH prefs WantRunning=false",
                                "PATCH prefs WantRunning=true"},
                               {}},
                      StepCase{LadderStep::kRestart, {}, kRestartTailscaled},
                      StepCase{
                          LadderStep::kConntrack, {}, {}, /*conntrack=*/true}),
    [](const ::testing::TestParamInfo<StepCase>& info) {
      std::string name(StepName(info.param.step));
      name[0] = static_cast<char>(std::toupper(name[0]));
      return name;
    });

TEST_F(ExecutorTest, ReupLeavesWantRunningAloneWhenTheUserTurnedItOff) {
  config_.ladder = {LadderStep::kReup};
  config_.kick_on_change = false;
  BootHealthy();
  Failover();
  tailscaled_.SetWantRunning(false, [](ApiResult<Prefs>) {});
  tailscaled_.requests.clear();
  Run(2min);
  ASSERT_FALSE(Writes().empty());
  for (const std::string& request : Writes()) {
    EXPECT_EQ(request, "GET prefs");  // read, never written
  }
}

TEST_F(ExecutorTest, DryRunSendsNoWriteAndRunsNothing) {
  config_.dry_run = true;
  config_.ladder = {LadderStep::kRebind, LadderStep::kConntrack,
                    LadderStep::kStart, LadderStep::kReup,
                    LadderStep::kRestart};
  config_.restart_on_ip = {"ssh.socket"};
  config_.hooks_dir = "/hooks";
  hooks_ = {"/hooks/10-log"};
  BootHealthy();
  Failover();
  Run(10min);
  EXPECT_EQ(Writes(), Strings{});
  EXPECT_TRUE(processes_.calls.empty());
  ASSERT_FALSE(conntrack_dry_runs_.empty());
  for (bool dry_run : conntrack_dry_runs_) {
    EXPECT_TRUE(dry_run);  // counted, nothing deleted
  }
  const Snapshot snapshot = daemon_->TakeSnapshot();
  EXPECT_TRUE(snapshot.dry_run);
  // The machine went through the whole ladder (nothing healed it).
  EXPECT_NE(snapshot.state, State::kHealthy);
  EXPECT_GE(snapshot.counters.actions.at("restart"), 1u);
}

TEST_F(ExecutorTest, DryRunCanBeSwitchedOnBySighup) {
  BootHealthy();
  config::Config next = config_;
  next.dry_run = true;
  daemon_->Reconfigure(next);
  Failover();
  Run(10min);
  EXPECT_EQ(Writes(), Strings{});
  EXPECT_TRUE(daemon_->TakeSnapshot().dry_run);
}

TEST_F(ExecutorTest, HooksRunInTheOrderOfTheMachinesCommands) {
  config_.hooks_dir = "/hooks";
  hooks_ = {"/hooks/10-log"};
  BootHealthy();
  Failover();
  Run(5min);
  EXPECT_EQ(processes_.HookEvents(),
            (Strings{"uplink-changed", "action", "unhealthy", "action",
                     "action", "recovered"}));
  const FakeProcesses::Call& last = processes_.calls.back();
  EXPECT_EQ(last.argv, Strings{"/hooks/10-log"});
  EXPECT_EQ(last.env.at("TSWATCHDOG_STATE"), "healthy");
  EXPECT_EQ(last.env.at("TSWATCHDOG_STEP"), "start");
  EXPECT_EQ(last.env.at("TSWATCHDOG_UPLINK_V4_DEV"), "wan1");
  EXPECT_EQ(last.env.at("TSWATCHDOG_UPLINK_V6_DEV"), "");
}

// Issue 11's second defect: ProcessRunner::Run reports a spawn failure
// before it returns, and the daemon fed that StepFinished to the machine
// from inside the Step that issued the step: the ladder gave up, and its
// `gave-up` hook ran, before the step's own `action` hook.
TEST_F(ExecutorTest, AStepThatCannotStartGivesUpAfterItsActionHook) {
  config_.ladder = {LadderStep::kRestart};
  config_.kick_on_change = false;
  config_.restart_command = {"/nonexistent/restart-tailscaled"};
  processes_.missing = {"/nonexistent/restart-tailscaled"};
  config_.hooks_dir = "/hooks";
  hooks_ = {"/hooks/10-log"};
  BootHealthy();
  Failover();
  Run(30s);  // the ladder runs at 25 s; the next pass 10 s (±20%) later
  EXPECT_EQ(processes_.HookEvents(),
            (Strings{"uplink-changed", "unhealthy", "action", "gave-up"}));
  EXPECT_EQ(State(), State::kCooldown);
}

TEST_F(ExecutorTest, RecoveryRestartsTheUnitsOnce) {
  config_.restart_on_ip = {"ssh.socket"};
  BootHealthy();
  Failover();
  Run(5min);
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 1);
}

TEST_F(ExecutorTest, TheTailscaleAddressAppearingRestartsTheUnits) {
  config_.restart_on_ip = {"ssh.socket"};
  uplink_.SetInitial(testing::Wan0(), /*address=*/false);
  Start();
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 0);
  uplink_.SetTailscaleAddress(true);
  Run(0ms);
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 1);
  uplink_.SetTailscaleAddress(false);  // tailscale down, then up
  uplink_.SetTailscaleAddress(true);
  Run(0ms);
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 2);
}

// Issue 11's third defect: after a `restart` step the units were restarted
// twice, once when the Tailscale address came back and once on recovery.
TEST_F(ExecutorTest, UnitsRestartOnceAfterARestartStep) {
  config_.ladder = {LadderStep::kRestart};
  config_.kick_on_change = false;
  config_.restart_on_ip = {"ssh.socket"};
  tailscaled_.heals = {};
  BootHealthy();
  processes_.on_run = [this](const FakeProcesses::Call& call) {
    if (call.argv != kRestartTailscaled) return;
    // tailscaled stops (its tun and address go), then comes back healed.
    timers_.AddTimer(timers_.Now() + 1s,
                     [this] { uplink_.SetTailscaleAddress(false); });
    timers_.AddTimer(timers_.Now() + 3s, [this] {
      tailscaled_.Heal();
      uplink_.SetTailscaleAddress(true);
    });
  };
  Failover();
  Run(2min);
  EXPECT_EQ(processes_.Count(kRestartTailscaled), 1);
  EXPECT_EQ(State(), State::kHealthy);
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 1);
}

// When the recovery comes before the address, the units wait for it:
// restarted without it, a socket bound to it would fail again.
TEST_F(ExecutorTest, UnitsWaitForTheAddressWhenTheRecoveryComesFirst) {
  config_.ladder = {LadderStep::kRestart};
  config_.kick_on_change = false;
  config_.restart_on_ip = {"ssh.socket"};
  tailscaled_.heals = {};
  BootHealthy();
  processes_.on_run = [this](const FakeProcesses::Call& call) {
    if (call.argv != kRestartTailscaled) return;
    uplink_.SetTailscaleAddress(false);
    tailscaled_.Heal();
    timers_.AddTimer(timers_.Now() + 1min,
                     [this] { uplink_.SetTailscaleAddress(true); });
  };
  Failover();
  Run(50s);
  ASSERT_EQ(State(), State::kHealthy);
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 0);
  Run(1min);
  EXPECT_EQ(processes_.Count({"systemctl", "restart", "ssh.socket"}), 1);
}

// Issue 11's first defect: the daemon started its "starting since" clock
// only for BackendState Starting/NoState, while the classifier also counts
// a Running tailscaled that says it is warming up: that never timed out.
TEST_F(ExecutorTest, WarmingUpTimesOutLikeStarting) {
  config_.start_timeout = 1min;
  config_.kick_on_change = false;
  tailscaled_.status().health = {"Tailscale is starting. Please wait."};
  Start();
  Run(30s);
  ASSERT_TRUE(daemon_->TakeSnapshot().tailscale.verdict.has_value());
  EXPECT_EQ(daemon_->TakeSnapshot().tailscale.verdict->kind,
            HealthKind::kStarting);
  Run(2min);
  const auto verdict = daemon_->TakeSnapshot().tailscale.verdict;
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->kind, HealthKind::kDegraded) << verdict->Describe();
  EXPECT_TRUE(verdict->HasReason("stuck-starting")) << verdict->Describe();
  EXPECT_FALSE(Writes().empty());  // the ladder ran
}

TEST_F(ExecutorTest, SigusrHintCountsAsAnUplinkChange) {
  BootHealthy();
  daemon_->OnUplinkHint();
  Run(0ms);
  EXPECT_EQ(State(), State::kSettling);
  EXPECT_EQ(daemon_->TakeSnapshot().counters.uplink_changes, 1u);
}

// --- State publication ------------------------------------------------------

TEST_F(ExecutorTest, PublishesTheViewOncePerEvent) {
  BootHealthy();
  const Snapshot healthy = publisher_.published.back();
  EXPECT_EQ(healthy.state, State::kHealthy);
  EXPECT_EQ(healthy.uplink.v4.dev, "wan0");
  ASSERT_TRUE(healthy.tailscale.verdict.has_value());
  EXPECT_TRUE(healthy.tailscale.verdict->healthy());
  EXPECT_EQ(healthy.tailscale.backend_state, "Running");
  EXPECT_EQ(healthy.tailscale.version, "1.102.3");

  const size_t before = publisher_.published.size();
  uplink_.MoveTo(testing::Wan1());  // a transition and a new view
  daemon_->FlushIfDirty();
  EXPECT_EQ(publisher_.published.size(), before + 1);
  EXPECT_EQ(publisher_.published.back().state, State::kSettling);
  EXPECT_EQ(publisher_.published.back().uplink.v4.dev, "wan1");
  daemon_->FlushIfDirty();  // nothing changed since
  EXPECT_EQ(publisher_.published.size(), before + 1);
}

TEST_F(ExecutorTest, AFailedPublicationIsRetriedWithBackoff) {
  BootHealthy();
  publisher_.fail = true;
  uplink_.MoveTo(testing::Wan1());
  daemon_->FlushIfDirty();
  const size_t failed = publisher_.published.size();
  Run(999ms);  // (the uplink settles only after 5 s)
  EXPECT_EQ(publisher_.published.size(), failed);
  Run(1ms);  // 1 s after the failure
  EXPECT_EQ(publisher_.published.size(), failed + 1);
  publisher_.fail = false;
  Run(1999ms);
  EXPECT_EQ(publisher_.published.size(), failed + 1);
  Run(1ms);  // then 2 s
  EXPECT_EQ(publisher_.published.size(), failed + 2);
}

// The metrics file alone is written again every metrics_interval while
// nothing changes: its timestamp is what the staleness alert reads. The
// state file is written on events only.
TEST_F(ExecutorTest, MetricsAloneAreRepublishedEveryInterval) {
  config_.metrics_file = "/run/tswatchdog/tswatchdog.prom";
  config_.metrics_interval = 30s;
  BootHealthy();
  publisher_.targets.clear();
  Run(29s);
  EXPECT_TRUE(publisher_.targets.empty());
  Run(1s);
  ASSERT_EQ(publisher_.targets.size(), 1u);
  Run(65s);
  ASSERT_EQ(publisher_.targets.size(), 3u);
  for (const PublishTargets& where : publisher_.targets) {
    EXPECT_EQ(where.state_file, "");
    EXPECT_EQ(where.metrics_file, config_.metrics_file);
    EXPECT_EQ(where.metrics_interval, 30s);
  }
  EXPECT_EQ(publisher_.published.back().state, State::kHealthy);
}

TEST_F(ExecutorTest, WithoutAMetricsFileNothingIsRepublished) {
  config_.metrics_file = "";
  BootHealthy();
  const size_t before = publisher_.published.size();
  Run(1h);
  EXPECT_EQ(publisher_.published.size(), before);
}

// What the alert rules read: passes that gave up (0 again once healthy, the
// total kept), and disruptive steps against the hourly budget.
TEST_F(ExecutorTest, TheSnapshotCountsGivingUpAndTheDisruptiveBudget) {
  config_.ladder = {LadderStep::kRebind, LadderStep::kReup};
  config_.max_disruptive_per_hour = 2;
  tailscaled_.heals.clear();  // nothing heals it
  BootHealthy();
  Failover();
  Run(2min);
  Snapshot snapshot = daemon_->TakeSnapshot();
  EXPECT_EQ(snapshot.state, State::kCooldown);
  EXPECT_GE(snapshot.exhausted_passes, 1);
  EXPECT_EQ(snapshot.counters.gave_up,
            static_cast<uint64_t>(snapshot.exhausted_passes));
  // One reup per pass, within the budget.
  EXPECT_EQ(snapshot.disruptive_last_hour,
            std::min(snapshot.exhausted_passes, 2));
  EXPECT_EQ(snapshot.max_disruptive_per_hour, 2);
  tailscaled_.Heal();
  Run(10min);
  snapshot = daemon_->TakeSnapshot();
  EXPECT_EQ(snapshot.state, State::kHealthy);
  EXPECT_EQ(snapshot.exhausted_passes, 0);
  EXPECT_GE(snapshot.counters.gave_up, 1u);
  Run(1h);
  EXPECT_EQ(daemon_->TakeSnapshot().disruptive_last_hour, 0);
}

}  // namespace
}  // namespace watchdog
