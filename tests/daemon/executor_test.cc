// The executor (Daemon) over fake ports: what it asks of tailscaled, which
// children it starts, which hooks run in which order, what it publishes.
// The clock is fake and moved by hand: a failover healed after two minutes
// of backoff runs in a millisecond, without root or sockets.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/daemon/fakes.h"
#include "watchdog/core/service_state.h"
#include "watchdog/daemon/daemon.h"

namespace watchdog {
namespace {

using namespace std::chrono_literals;
using testing::FakeConnections;
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
// restart_on_ip starts a socket (never restarts it) and restarts a service.
const Strings kStartSshSocket = {"systemctl", "start", "--", "ssh.socket"};
const Strings kRestartNginx = {"systemctl", "restart", "--", "nginx.service"};

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
            [this](const std::string&) {
              return HookListing{hooks_, {}, ""};
            },
            SystemctlCommandForUnit};
  }

  void Start() {
    daemon_ = std::make_unique<Daemon>(
        config_, DaemonSettings{},
        DaemonPorts{timers_, uplink_, tailscaled_, publisher_, live_, dry_,
                    connections_, service_});
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
      if (r != "GET status" && r != "GET derpmap") writes.push_back(r);
    }
    return writes;
  }
  watchdog::State State() const { return daemon_->TakeSnapshot().state; }

  FakeTimers timers_;
  FakeUplink uplink_;
  FakeConnections connections_;
  FakeTailscaled tailscaled_{timers_};
  FakeProcesses processes_{timers_};
  FakePublisher publisher_;
  testing::FakeServiceProbe service_{timers_};
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
  // Offline: the diagnosis says control; the ladder's rebind is skipped
  // (the soft kick just ran it, and it cannot fix control).
  EXPECT_EQ(Writes(), Concat({kRebindRequests,    // soft kick
                              {"POST start"}}));  // step 2: healed
  const Snapshot snapshot = daemon_->TakeSnapshot();
  EXPECT_EQ(snapshot.state, State::kHealthy);
  EXPECT_EQ(snapshot.counters.recoveries, 1u);
  EXPECT_EQ(snapshot.counters.actions.at(LadderStep::kRebind),
            2u);  // boot kick too
  EXPECT_EQ(snapshot.counters.actions.at(LadderStep::kStart), 1u);
  ASSERT_TRUE(snapshot.last_action.has_value());
  EXPECT_EQ(snapshot.last_action->step, LadderStep::kStart);
  EXPECT_TRUE(snapshot.last_action->finished && snapshot.last_action->ok);
}

// Each step alone in the ladder, no kick: what it sends or runs.
// tailscaled's text for a route programming failure (its `router` warning).
const char kRouteFailure[] = "2 add route failures; first was: network is down";

struct StepCase {
  LadderStep step;
  Strings writes;
  Strings process;  // argv run, if any
  bool conntrack = false;
  // tailscaled's health texts at the failure (a fault this step can fix);
  // none: offline.
  Strings health = {};
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
  if (!c.health.empty()) tailscaled_.Break(c.health);
  Run(2min);
  EXPECT_EQ(Writes(), c.writes);
  EXPECT_EQ(processes_.calls.size(), c.process.empty() ? 0u : 1u);
  if (!c.process.empty()) {
    EXPECT_EQ(processes_.calls[0].argv, c.process);
  }
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
    ::testing::Values(
        StepCase{LadderStep::kRebind,
                 kRebindRequests,
                 {},
                 false,
                 {"Tailscale could not connect to any relay "
                  "server. Check your Internet connection."}},
        StepCase{LadderStep::kStart, {"POST start"}, {}},
        StepCase{
            LadderStep::kReup,
            {"POST bugreport", "GET prefs", "PATCH prefs WantRunning=false",
             "PATCH prefs WantRunning=true"},
            {},
            false,
            {kRouteFailure}},
        StepCase{LadderStep::kRestart, {"POST bugreport"}, kRestartTailscaled},
        StepCase{LadderStep::kConntrack, {}, {}, /*conntrack=*/true}),
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
  tailscaled_.Break({kRouteFailure});
  tailscaled_.SetWantRunning(false, [](ApiResult<Prefs>) {});
  tailscaled_.requests.clear();
  Run(2min);
  ASSERT_FALSE(Writes().empty());
  for (const std::string& request : Writes()) {
    // read, never written (the marker before the step is no write)
    EXPECT_TRUE(request == "GET prefs" || request == "POST bugreport")
        << request;
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
  EXPECT_GE(snapshot.counters.actions.at(LadderStep::kRestart), 1u);
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
                     "recovered"}));
  const FakeProcesses::Call& last = processes_.calls.back();
  EXPECT_EQ(last.argv, Strings{"/hooks/10-log"});
  EXPECT_EQ(last.env.at("TSWATCHDOG_STATE"), "healthy");
  EXPECT_EQ(last.env.at("TSWATCHDOG_STEP"), "start");
  EXPECT_EQ(last.env.at("TSWATCHDOG_UPLINK_V4_DEV"), "wan1");
  EXPECT_EQ(last.env.at("TSWATCHDOG_UPLINK_V6_DEV"), "");
}

// Flapping with slow hooks reached 121 children and 256/256 fds, and the
// state file went .stale on EMFILE (issue 13, defect 11). One hook program
// at a time: an event's programs in run-parts order, then the next event's;
// what comes meanwhile waits, one run per event, with the newest state.
TEST_F(ExecutorTest, SlowHooksUnderFlappingRunOneAtATimeAndCoalesce) {
  config_.hooks_dir = "/hooks";
  hooks_ = {"/hooks/10-first", "/hooks/20-second"};
  processes_.duration = 20s;  // a webhook to a slow server
  BootHealthy();
  // A flap every 6 s (past the 5 s debounce) for 10 minutes: 100 settled
  // changes, each an uplink-changed and a kick's action.
  for (int i = 0; i < 100; ++i) {
    uplink_.MoveTo(i % 2 ? testing::Wan0() : testing::Wan1());
    Run(6s);
  }
  Run(30min);
  EXPECT_EQ(processes_.max_running, 1);
  // Every run is both programs, in order, never interleaved.
  const auto& calls = processes_.calls;
  ASSERT_FALSE(calls.empty());
  ASSERT_EQ(calls.size() % 2, 0u);
  std::string last_uplink;
  for (size_t i = 0; i < calls.size(); i += 2) {
    EXPECT_EQ(calls[i].argv, Strings{"/hooks/10-first"}) << i;
    EXPECT_EQ(calls[i + 1].argv, Strings{"/hooks/20-second"}) << i;
    EXPECT_EQ(calls[i].env, calls[i + 1].env) << i;
    if (calls[i].env.at("TSWATCHDOG_EVENT") == "uplink-changed") {
      last_uplink = calls[i].env.at("TSWATCHDOG_UPLINK_V4_DEV");
    }
  }
  // 200 events, 40 s per run: the waiting ones were coalesced.
  EXPECT_LE(calls.size() / 2, 10min / 40s + 4);
  // The last uplink-changed run saw the last uplink (wan0, i = 99).
  EXPECT_EQ(last_uplink, "wan0");
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
  EXPECT_EQ(processes_.Count(kStartSshSocket), 1);
}

TEST_F(ExecutorTest, TheTailscaleAddressAppearingRestartsTheUnits) {
  config_.restart_on_ip = {"ssh.socket"};
  uplink_.SetInitial(testing::Wan0(), /*address=*/false);
  Start();
  EXPECT_EQ(processes_.Count(kStartSshSocket), 0);
  uplink_.SetTailscaleAddress(true);
  Run(0ms);
  EXPECT_EQ(processes_.Count(kStartSshSocket), 1);
  uplink_.SetTailscaleAddress(false);  // tailscale down, then up
  uplink_.SetTailscaleAddress(true);
  Run(0ms);
  EXPECT_EQ(processes_.Count(kStartSshSocket), 2);
}

// Issue 14, defect 1: the address there at start is no appearance: a
// socket that failed before it existed is started, a service is left alone.
TEST_F(ExecutorTest, AnAddressThereAtStartStartsSocketsAndLeavesServices) {
  config_.restart_on_ip = {"ssh.socket", "nginx.service"};
  Start();
  EXPECT_EQ(processes_.Count(kStartSshSocket), 1);
  EXPECT_EQ(processes_.Count(kRestartNginx), 0);
  uplink_.SetTailscaleAddress(false);
  uplink_.SetTailscaleAddress(true);
  Run(0ms);
  EXPECT_EQ(processes_.Count(kStartSshSocket), 2);
  EXPECT_EQ(processes_.Count(kRestartNginx), 1);
}

// Issue 14, defect 3: `systemctl stop tailscaled` is the admin's intent.
// The LocalAPI is gone, systemd says the unit was stopped: suppressed, no
// restart, until the admin starts it again.
TEST_F(ExecutorTest, AnAdminsStopOfTailscaledIsLeftAlone) {
  BootHealthy();
  service_.condition = ServiceCondition::kStoppedOnPurpose;
  tailscaled_.Vanish();
  Run(10min);
  EXPECT_EQ(State(), State::kSuppressed);
  EXPECT_EQ(processes_.Count(kRestartTailscaled), 0);
  ASSERT_FALSE(service_.probed.empty());
  EXPECT_EQ(service_.probed.front(), "tailscaled.service");
  // The admin starts it again.
  service_.condition = ServiceCondition::kUp;
  tailscaled_.reachable = true;
  tailscaled_.ConnectBus();
  Run(1min);
  EXPECT_EQ(State(), State::kHealthy);
}

// A crash is no intent: systemd says failed, the ladder restarts it.
TEST_F(ExecutorTest, ACrashedTailscaledIsRestarted) {
  config_.ladder = {LadderStep::kRestart};
  BootHealthy();
  processes_.on_run = [this](const FakeProcesses::Call& call) {
    if (call.argv != kRestartTailscaled) return;
    tailscaled_.reachable = true;
    tailscaled_.ConnectBus();
  };
  service_.condition = ServiceCondition::kFailed;
  tailscaled_.Vanish();
  Run(10min);
  EXPECT_EQ(processes_.Count(kRestartTailscaled), 1);
  EXPECT_EQ(State(), State::kHealthy);
}

// Without a `systemctl restart UNIT` restart_command there is no unit to
// ask, and nothing changes.
TEST_F(ExecutorTest, NoUnitToAskWithAnotherRestartCommand) {
  config_.ladder = {LadderStep::kRestart};
  config_.restart_command = {"/etc/init.d/tailscale", "restart"};
  BootHealthy();
  service_.condition = ServiceCondition::kStoppedOnPurpose;
  tailscaled_.Vanish();
  Run(10min);
  EXPECT_TRUE(service_.probed.empty());
  EXPECT_GE(processes_.Count(config_.restart_command), 1);
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
  EXPECT_EQ(processes_.Count(kStartSshSocket), 1);
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
  EXPECT_EQ(processes_.Count(kStartSshSocket), 0);
  Run(1min);
  EXPECT_EQ(processes_.Count(kStartSshSocket), 1);
}

// Issue 11's first defect: the daemon started its "starting since" clock
// only for BackendState Starting/NoState, while the classifier also counts
// a Running tailscaled that says it is warming up: that never timed out.
TEST_F(ExecutorTest, WarmingUpTimesOutLikeStarting) {
  config_.start_timeout = 1min;
  config_.kick_on_change = false;
  tailscaled_.heals = {};  // stays warming up
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

// 1,899 SIGUSR1 in a second with debounce = "0s" sent 435 rebinds (issue
// 13, defect 12): a storm of hints is one soft kick.
TEST_F(ExecutorTest, ASigusrStormIsOneSoftKick) {
  config_.debounce = 0ms;
  config_.grace = 0ms;
  BootHealthy();
  for (int i = 0; i < 400; ++i) {
    daemon_->OnUplinkHint();
    Run(2ms);
  }
  Run(1min);
  EXPECT_EQ(Writes(), kRebindRequests);
  EXPECT_EQ(State(), State::kHealthy);
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

// Issue 14, defect 5: a step that finishes without a transition (the soft
// kick, then `grace` to wait) was published as running until the next one.
TEST_F(ExecutorTest, AFinishedStepIsPublishedAtOnce) {
  config_.grace = 20s;
  tailscaled_.answer_delay = 100ms;
  Start();
  Run(100ms);  // the first status: verifying, the kick's rebind sent
  ASSERT_EQ(State(), State::kVerifying);
  ASSERT_TRUE(publisher_.published.back().last_action.has_value());
  EXPECT_FALSE(publisher_.published.back().last_action->finished);
  Run(200ms);  // rebind and restun answered: the kick is done
  ASSERT_EQ(State(), State::kVerifying);
  const Snapshot& last = publisher_.published.back();
  ASSERT_TRUE(last.last_action.has_value());
  EXPECT_EQ(last.last_action->step, LadderStep::kRebind);
  EXPECT_TRUE(last.last_action->finished);
  EXPECT_TRUE(last.last_action->ok);
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

// --- The diagnosis (issue 12) -----------------------------------------------

// tailscaled's control connection as sock_diag shows it: established to the
// control server, with `probes` unanswered keep-alive probes.
netlink::SocketRecord ControlSocket(uint8_t probes, uint64_t cookie = 1) {
  netlink::SocketRecord s;
  s.protocol = netlink::kIpProtocolTcp;
  s.state = netlink::kTcpEstablished;
  s.local = {*netlink::IpAddress::Parse("198.51.100.2"), 41234};
  s.remote = {*netlink::IpAddress::Parse("192.0.2.100"), 80};
  s.cookie = cookie;
  netlink::TcpInfo info;
  info.length = netlink::TcpInfo::kTcpInfoCoreLength;
  info.state = netlink::kTcpEstablished;
  info.probes = probes;
  info.last_data_recv_ms = probes ? 50000 : 1000;
  info.last_ack_recv_ms = probes ? 50000 : 1000;
  s.tcp_info = info;
  return s;
}

// (f): nothing changes on the host, tailscaled still says healthy, its
// control connection's keep-alive probes go unanswered: the periodic check
// sees it dead, the ladder runs `start` at once (not rebind), and the state
// file carries the verdicts.
TEST_F(ExecutorTest, AControlConnectionSeenDeadIsHealedByStartAtOnce) {
  connections_.sockets = {ControlSocket(0)};
  BootHealthy();
  connections_.sockets = {ControlSocket(2)};
  Run(config_.probe_interval);
  EXPECT_EQ(Writes(), (Strings{"POST start"})) << StateName(State());
  Snapshot snapshot = daemon_->TakeSnapshot();
  EXPECT_EQ(snapshot.diagnosis.fault, Fault::kControl);
  EXPECT_TRUE(snapshot.diagnosis.confirmed);
  ASSERT_EQ(snapshot.evidence.connections.size(), 1u);
  EXPECT_EQ(snapshot.evidence.connections[0].verdict, Verdict::kDead);
  const nlohmann::json state = StateJson(snapshot, ClockPair::Now(), /*pid=*/1);
  EXPECT_EQ(state["diagnosis"]["fault"], "control");
  EXPECT_EQ(state["connections"]["list"][0]["verdict"], "dead");
  EXPECT_NE(state["connections"]["list"][0]["evidence"].get<std::string>().find(
                "2 keep-alive probes unanswered"),
            std::string::npos);
  // The new connection is live: healthy after verify.
  connections_.sockets = {ControlSocket(0, 2)};
  Run(config_.verify);
  EXPECT_EQ(State(), State::kHealthy);
  EXPECT_EQ(daemon_->TakeSnapshot().counters.recoveries, 1u);
}

// A connection that looks wrong makes the daemon ask for a status (Online
// counts); a quiet healthy host asks for nothing.
TEST_F(ExecutorTest, StatusIsFetchedWhenAConnectionLooksWrongOnly) {
  connections_.sockets = {ControlSocket(0)};
  BootHealthy();
  Run(10 * config_.probe_interval);
  EXPECT_TRUE(tailscaled_.requests.empty()) << tailscaled_.requests.size();
  EXPECT_GE(connections_.dumps, 10);
  connections_.sockets = {ControlSocket(1)};  // suspect: 1 probe, 50 s
  Run(config_.probe_interval);
  EXPECT_EQ(tailscaled_.requests, Strings{"GET status"});
}

// The state file on flash (issue: it was rewritten at every check for the
// ages in the evidence's words). Checks over unchanged connections, whose
// ages move as the kernel's do, write nothing; a verdict change writes once,
// and so does the way back.
TEST_F(ExecutorTest, ChecksThatOnlyAgeTheEvidenceWriteNothing) {
  connections_.sockets = {ControlSocket(0)};
  BootHealthy();
  const size_t writes = publisher_.published.size();
  const std::string first = daemon_->evidence().connections.at(0).evidence;
  const int dumps = connections_.dumps;
  for (uint32_t check = 1; check <= 10; ++check) {
    netlink::TcpInfo& info = *connections_.sockets[0].tcp_info;
    info.last_data_recv_ms = 1000 + check * 1500;  // live up to 80 s
    info.last_ack_recv_ms = 500 + check * 700;
    Run(config_.probe_interval);
  }
  EXPECT_EQ(connections_.dumps, dumps + 10);
  EXPECT_NE(daemon_->evidence().connections.at(0).evidence, first);
  EXPECT_EQ(publisher_.published.size(), writes);

  connections_.sockets = {ControlSocket(1)};  // suspect: 1 probe, 50 s
  Run(config_.probe_interval);
  ASSERT_EQ(publisher_.published.size(), writes + 1);
  ASSERT_EQ(publisher_.published.back().evidence.connections.size(), 1u);
  EXPECT_EQ(publisher_.published.back().evidence.connections[0].verdict,
            Verdict::kSuspect);
  ASSERT_TRUE(publisher_.published.back().evidence_checked.has_value());
  EXPECT_EQ(*publisher_.published.back().evidence_checked, timers_.Now());
  connections_.sockets[0].tcp_info->last_ack_recv_ms = 65000;  // still so
  Run(config_.probe_interval);
  EXPECT_EQ(publisher_.published.size(), writes + 1);
  connections_.sockets = {ControlSocket(0)};
  Run(config_.probe_interval);
  EXPECT_EQ(publisher_.published.size(), writes + 2);
  EXPECT_EQ(publisher_.published.back().evidence.connections[0].verdict,
            Verdict::kLive);
}

// While checks write nothing, the metrics file is still written every
// metrics_interval (the staleness alert reads its timestamp), alone; a
// config reload writes both files even when nothing they show changed.
TEST_F(ExecutorTest, QuietChecksKeepTheMetricsHeartbeatAndAReloadWrites) {
  config_.metrics_file = "/run/tswatchdog/tswatchdog.prom";
  config_.metrics_interval = 60s;
  connections_.sockets = {ControlSocket(0)};
  BootHealthy();
  publisher_.targets.clear();
  for (uint32_t check = 1; check <= 8; ++check) {  // 120 s
    connections_.sockets[0].tcp_info->last_data_recv_ms = 1000 + check * 1000;
    Run(config_.probe_interval);
  }
  ASSERT_EQ(publisher_.targets.size(), 2u);
  for (const PublishTargets& where : publisher_.targets) {
    EXPECT_EQ(where.state_file, "");
    EXPECT_EQ(where.metrics_file, config_.metrics_file);
  }
  daemon_->Reconfigure(config_);
  daemon_->FlushIfDirty();
  ASSERT_EQ(publisher_.targets.size(), 3u);
  EXPECT_EQ(publisher_.targets.back().state_file, config_.state_file);
  daemon_->FlushIfDirty();
  Run(config_.probe_interval);
  EXPECT_EQ(publisher_.targets.size(), 3u);
}

// A dump that fails: logged once, the evidence is unknown, the daemon works
// from tailscaled's word as before.
TEST_F(ExecutorTest, AFailedDumpLeavesTheEvidenceUnknown) {
  connections_.error = EPERM;
  BootHealthy();
  EXPECT_FALSE(daemon_->TakeSnapshot().evidence.known);
  Failover();
  Run(5min);
  EXPECT_EQ(State(), State::kHealthy);
  EXPECT_EQ(Writes(), Concat({kRebindRequests, {"POST start"}}));
}

// SIGSTOP: the process is stopped, nothing changes, no bus line comes. The
// next periodic check sees it and asks; the status call fails (here at
// once; for real after call_timeout): unreachable within probe_interval.
TEST_F(ExecutorTest, AStoppedTailscaledIsNoticedWithinProbeInterval) {
  BootHealthy();
  tailscaled_.reachable = false;
  connections_.state = 'T';
  Run(config_.probe_interval);
  const auto verdict = daemon_->TakeSnapshot().tailscale.verdict;
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->kind, HealthKind::kUnreachable);
}

// tailscaled < 1.70 has no health on its bus: a status every fourth check.
TEST_F(ExecutorTest, OldTailscaledIsPolledSlowly) {
  tailscaled_.status().version = "1.66.4";
  BootHealthy();
  Run(8 * config_.probe_interval);
  EXPECT_EQ(tailscaled_.requests, (Strings{"GET status", "GET status"}));
}

// Before a disruptive step and when the ladder gives up: a bugreport marker,
// in the state, the hooks' environment and the note naming the step.
TEST_F(ExecutorTest, ABugreportMarkerPrecedesDisruptiveStepsAndGivingUp) {
  config_.ladder = {LadderStep::kRestart};
  config_.kick_on_change = false;
  config_.hooks_dir = "/hooks";
  hooks_ = {"/hooks/10-log"};
  tailscaled_.heals = {};
  BootHealthy();
  Failover();
  Run(5s + 20s);
  ASSERT_GE(tailscaled_.notes.size(), 1u);
  EXPECT_NE(tailscaled_.notes[0].find("before restart"), std::string::npos)
      << tailscaled_.notes[0];
  EXPECT_NE(tailscaled_.notes[0].find("control"), std::string::npos);
  const Strings writes = Writes();
  ASSERT_FALSE(processes_.calls.empty());
  EXPECT_EQ(writes.front(), "POST bugreport");
  // The action hook after the step carries the marker.
  bool action_with_marker = false;
  for (const auto& call : processes_.calls) {
    if (call.env.count("TSWATCHDOG_EVENT") &&
        call.env.at("TSWATCHDOG_EVENT") == "action") {
      action_with_marker = call.env.at("TSWATCHDOG_BUGREPORT") == "BUG-fake-1";
    }
  }
  EXPECT_TRUE(action_with_marker);
  Run(30s);  // restart did not heal: the ladder gives up
  ASSERT_GE(tailscaled_.notes.size(), 2u);
  EXPECT_NE(tailscaled_.notes[1].find("gave up"), std::string::npos);
  const auto marker = daemon_->TakeSnapshot().support_marker;
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->marker,
            "BUG-fake-" + std::to_string(tailscaled_.notes.size()));
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
  // A fault reup can fix (route programming), so the diagnosis keeps it.
  tailscaled_.Break({kRouteFailure});
  uplink_.MoveTo(testing::Wan1());
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
  // The clock alone moved it: a periodic check publishes it.
  EXPECT_EQ(publisher_.published.back().disruptive_last_hour, 0);
}

}  // namespace
}  // namespace watchdog
