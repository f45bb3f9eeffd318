// The mwan3 agent over fake ports: a route table whose changes reach the
// kernel model only when the test delivers them (as netlink events arrive
// after the request), mwan3's files in a temporary tree with a real inotify
// watch, and a recorded mode-B cleanup. What it adds, keeps and removes,
// when it cleans up, and that unknown is never acted on.
#include "watchdog/daemon/mwan3_agent.h"

#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "tests/core/kernel_messages.h"

namespace watchdog {
namespace {

namespace fs = std::filesystem;
using netlink::Family;
using netlink::IpAddress;
using netlink::RouteMessage;
using netlink::RuleMessage;
using testing::Rule;

RouteMessage Default(int32_t oif, const char* gw, uint32_t metric,
                     uint32_t table = RT_TABLE_MAIN,
                     uint8_t protocol = RTPROT_STATIC) {
  return testing::DefaultRoute(oif, gw, metric, table, protocol);
}

std::string Text(const RouteMessage& r) {
  return (r.deleted ? "delete via " : "add via ") + r.gateway->ToString() +
         " if" + std::to_string(r.oif) + " metric " +
         std::to_string(r.priority) + " proto " + std::to_string(r.protocol);
}

// The kernel's main table behind RouteControl: requests are answered at
// once, the model hears of them when Deliver() runs (the netlink burst).
class FakeKernel : public RouteTablePort {
 public:
  // EEXIST for a main default with that metric, as the kernel answers
  // NLM_F_EXCL (in the model or asked for already).
  int AddRoute(const RouteMessage& route) override {
    calls.push_back(Text(route));
    std::vector<RouteMessage> routes = model.routes();
    routes.insert(routes.end(), pending_.begin(), pending_.end());
    int exists = 0;
    for (const RouteMessage& r : routes) {
      if (r.table == route.table && r.dst_len == 0 &&
          r.priority == route.priority) {
        exists = r.deleted ? 0 : EEXIST;
      }
    }
    if (add_error == 0 && exists == 0) pending_.push_back(route);
    return add_error ? add_error : exists;
  }
  int DeleteRoute(const RouteMessage& route) override {
    RouteMessage gone = route;
    gone.deleted = true;
    calls.push_back(Text(gone));
    pending_.push_back(gone);
    return 0;
  }
  void Deliver() {
    for (const RouteMessage& r : pending_) model.Apply(r);
    pending_.clear();
  }
  std::vector<RouteMessage> Ours() const {
    return OwnSteeringRoutes(model.routes());
  }

  netlink::Model model;
  std::vector<std::string> calls;
  int add_error = 0;

 private:
  std::vector<RouteMessage> pending_;
};

const RouteMessage kOurs = Default(3, "203.0.113.1", 9, RT_TABLE_MAIN, 122);

const MovedConnection kControl{{*IpAddress::Parse("198.51.100.2"), 41234},
                               {*IpAddress::Parse("192.0.2.100"), 80},
                               ConnectionKind::kControl};
const MovedConnection kDerp{{*IpAddress::Parse("198.51.100.2"), 41236},
                            {*IpAddress::Parse("192.0.2.101"), 443},
                            ConnectionKind::kOther};

class Mwan3AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "mwan3_agent_" + std::to_string(getpid()) +
            "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    paths_ = Mwan3Paths::Under(root_);
    Write(paths_.config, "config interface 'wan'\nconfig interface 'wanb'\n");
    kernel_.model.Apply(netlink::LinkMessage{false, 2, 0, "wan0", "veth"});
    kernel_.model.Apply(netlink::LinkMessage{false, 3, 0, "wan1", "veth"});
    for (const RouteMessage& r :
         {Default(2, "198.51.100.1", 10), Default(3, "203.0.113.1", 20),
          Default(2, "198.51.100.1", 0, 1), Default(3, "203.0.113.1", 0, 2)}) {
      kernel_.model.Apply(r);
    }
  }
  void TearDown() override { fs::remove_all(root_); }

  void Rules(uint32_t tailscale_base) {
    for (const RuleMessage& r :
         {Rule(1001, 1, 0, 0, "wan0"), Rule(1002, 2, 0, 0, "wan1"),
          Rule(2001, 1, 0x100, 0x3f00), Rule(2002, 2, 0x200, 0x3f00),
          Rule(tailscale_base + 10, 254, 0x80000, 0xff0000)}) {
      kernel_.model.Apply(r);
    }
  }
  void Write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << content;
  }
  void State(const char* wan, const char* state) {
    Write(paths_.iface_state_dir + "/" + wan, state);
  }
  std::unique_ptr<Mwan3Agent> Agent(Mwan3Settings settings = {}) {
    return std::make_unique<Mwan3Agent>(
        Mwan3AgentPorts{kernel_,
                        [this](const FlowCleanupOrder& order, bool dry_run) {
                          cleanups_.push_back(order);
                          dry_runs_.push_back(dry_run);
                          FlowCleanupReport r;
                          r.sockets = 2;
                          r.matched = 3;
                          r.deleted = dry_run ? 0 : 3;
                          r.tcp_on_dead_wan = {kControl, kDerp};
                          return r;
                        },
                        [this] { return established_; }, paths_,
                        [this] { return now_; }},
        settings);
  }
  // Waits (deadline) for the status watch and lets the agent read.
  Mwan3Report FilesChanged(Mwan3Agent& agent) {
    pollfd p{agent.status_fd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 2000), 1) << "no inotify event";
    return agent.OnStatusReadable(kernel_.model);
  }

  std::string root_;
  Mwan3Paths paths_;
  FakeKernel kernel_;
  std::vector<FlowCleanupOrder> cleanups_;
  std::vector<bool> dry_runs_;
  std::optional<std::vector<MovedConnection>> established_;
  MonoTime now_{std::chrono::hours(1000)};
};

TEST_F(Mwan3AgentTest, ModeASteersAroundTheDeadWanAndBack) {
  Rules(1300);
  State("wan", "online");
  State("wanb", "online");
  auto agent = Agent();
  EXPECT_FALSE(agent->Look(kernel_.model, "start").steering.size());
  EXPECT_TRUE(kernel_.calls.empty());

  State("wan", "offline");
  Mwan3Report report = FilesChanged(*agent);
  EXPECT_TRUE(report.changed);
  ASSERT_EQ(report.steering.size(), 1u);
  EXPECT_EQ(kernel_.calls,
            (std::vector<std::string>{"add via 203.0.113.1 if3 metric 9 "
                                      "proto 122"}));
  // Before the netlink event arrives, a look asks again (EEXIST: fine) and
  // keeps it in the status.
  kernel_.calls.clear();
  EXPECT_FALSE(agent->OnKernel(kernel_.model).changed);
  EXPECT_EQ(kernel_.calls,
            (std::vector<std::string>{"add via 203.0.113.1 if3 metric 9 "
                                      "proto 122"}));
  EXPECT_EQ(agent->status()->steering.size(), 1u);
  kernel_.calls.clear();
  kernel_.Deliver();
  EXPECT_FALSE(agent->OnKernel(kernel_.model).changed);
  EXPECT_TRUE(kernel_.calls.empty());
  EXPECT_EQ(agent->status()->routes_added, 1u);

  State("wan", "online");
  report = FilesChanged(*agent);
  EXPECT_TRUE(report.changed);
  EXPECT_EQ(kernel_.calls,
            (std::vector<std::string>{"delete via 203.0.113.1 if3 metric 9 "
                                      "proto 122"}));
  kernel_.Deliver();
  EXPECT_TRUE(kernel_.Ours().empty());
  EXPECT_TRUE(agent->status()->steering.empty());
  EXPECT_EQ(agent->status()->routes_removed, 1u);
}

TEST_F(Mwan3AgentTest, StartRemovesWhatAnEarlierRunLeftAndKeepsWhatIsWanted) {
  Rules(1300);
  State("wan", "online");
  State("wanb", "online");
  kernel_.model.Apply(kOurs);  // a crash left it; wan is back
  // A route of someone else's of the same shape, in another table.
  kernel_.model.Apply(Default(3, "203.0.113.1", 9, 7, RTPROT_STATIC));
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  EXPECT_EQ(kernel_.calls,
            (std::vector<std::string>{"delete via 203.0.113.1 if3 metric 9 "
                                      "proto 122"}));
  kernel_.Deliver();
  EXPECT_EQ(kernel_.model.routes().size(), 5u);  // the others stay

  // Wanted at start (wan still offline): kept, not flapped.
  kernel_.calls.clear();
  kernel_.model.Apply(kOurs);
  State("wan", "offline");
  auto second = Agent();
  second->Look(kernel_.model, "start");
  EXPECT_TRUE(kernel_.calls.empty());
  EXPECT_EQ(second->status()->steering.size(), 1u);
}

TEST_F(Mwan3AgentTest, AnotherProtocolsRouteOfTheSameShapeIsNeverTouched) {
  Rules(1300);
  State("wan", "offline");
  State("wanb", "online");
  // What a user adds by hand (tailscale #13357), with proto static.
  kernel_.model.Apply(Default(3, "203.0.113.1", 9));
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  State("wan", "online");
  FilesChanged(*agent);
  agent->Stop(kernel_.model);
  EXPECT_TRUE(kernel_.calls.empty());
  EXPECT_EQ(agent->status()->steering_why[Family::kV4],
            "wanb (wan1), which the main table's default uses, is online");
}

TEST_F(Mwan3AgentTest, UnknownHoldsSteeringAndIsLoggedOnce) {
  Rules(1300);
  State("wan", "offline");
  State("wanb", "online");
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  kernel_.Deliver();
  ASSERT_EQ(kernel_.Ours().size(), 1u);
  kernel_.calls.clear();
  // Truncated, then empty (mid-write): unknown; our route stays.
  State("wan", "offl");
  FilesChanged(*agent);
  EXPECT_EQ(agent->status()->problems,
            (std::vector<std::string>{paths_.iface_state_dir +
                                      "/wan: not a state: 'offl'"}));
  EXPECT_EQ(agent->status()->view.wans[0].state, WanState::kUnknown);
  State("wan", "");
  FilesChanged(*agent);
  EXPECT_TRUE(agent->status()->problems.empty());
  EXPECT_TRUE(kernel_.calls.empty());
  EXPECT_EQ(agent->status()->steering.size(), 1u);
  State("wan", "online");
  FilesChanged(*agent);
  EXPECT_EQ(kernel_.calls.size(), 1u);  // now it goes
}

TEST_F(Mwan3AgentTest, ModeBCleansUpTheDeadWansFlowsOnce) {
  Rules(5200);
  State("wan", "online");
  State("wanb", "online");
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  EXPECT_TRUE(cleanups_.empty());
  State("wan", "offline");
  Mwan3Report report = FilesChanged(*agent);
  ASSERT_EQ(cleanups_.size(), 1u);
  EXPECT_EQ(cleanups_[0].mark, 0x100u);
  EXPECT_EQ(cleanups_[0].mask, 0x3f00u);
  EXPECT_FALSE(dry_runs_[0]);
  ASSERT_EQ(report.cleanups.size(), 1u);
  EXPECT_EQ(report.cleanups[0].deleted, 3u);
  EXPECT_EQ(agent->status()->entries_deleted, 3u);
  State("wanb", "online");  // a rewrite of another file: no second cleanup
  FilesChanged(*agent);
  EXPECT_EQ(cleanups_.size(), 1u);
  EXPECT_TRUE(kernel_.calls.empty());  // mode B: no steering
}

TEST_F(Mwan3AgentTest, DryRunChangesNothing) {
  Rules(1300);
  State("wan", "offline");
  State("wanb", "online");
  Mwan3Settings dry;
  dry.dry_run = true;
  auto agent = Agent(dry);
  agent->Look(kernel_.model, "start");
  agent->OnKernel(kernel_.model);
  agent->Stop(kernel_.model);
  EXPECT_TRUE(kernel_.calls.empty());
  EXPECT_TRUE(agent->status()->steering.empty());
  // Mode B in a dry run: counted, not deleted.
  Rules(5200);
  kernel_.model.Apply([] {
    RuleMessage r = Rule(1310, 254, 0x80000, 0xff0000);
    r.deleted = true;
    return r;
  }());
  State("wan", "online");
  FilesChanged(*agent);
  State("wan", "offline");
  FilesChanged(*agent);
  ASSERT_EQ(dry_runs_.size(), 1u);
  EXPECT_TRUE(dry_runs_[0]);
}

TEST_F(Mwan3AgentTest, StopAndReloadLeaveNothingBehind) {
  Rules(1300);
  State("wan", "offline");
  State("wanb", "online");
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  // SIGTERM before the netlink event of our add arrived: still removed.
  agent->Stop(kernel_.model);
  kernel_.Deliver();
  EXPECT_TRUE(kernel_.Ours().empty());

  auto reloaded = Agent();
  reloaded->Look(kernel_.model, "start");
  kernel_.Deliver();
  ASSERT_EQ(kernel_.Ours().size(), 1u);
  Mwan3Settings off;
  off.steering = false;
  reloaded->Reconfigure(off, kernel_.model);  // SIGHUP, steering off
  kernel_.Deliver();
  EXPECT_TRUE(kernel_.Ours().empty());
  reloaded->Reconfigure({}, kernel_.model);
  kernel_.Deliver();
  ASSERT_EQ(kernel_.Ours().size(), 1u);
  Mwan3Settings dry;
  dry.dry_run = true;
  reloaded->Reconfigure(dry, kernel_.model);  // nothing would maintain it
  kernel_.Deliver();
  EXPECT_TRUE(kernel_.Ours().empty());
}

TEST_F(Mwan3AgentTest, Mwan3StartingAfterUsIsPickedUp) {
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  EXPECT_FALSE(agent->status());  // nothing of mwan3's yet
  Rules(1300);
  agent->OnKernel(kernel_.model);
  State("wan", "offline");  // the directory appears: the watch follows
  State("wanb", "online");
  for (int i = 0; i < 4 && kernel_.calls.empty(); ++i) FilesChanged(*agent);
  ASSERT_TRUE(agent->status());
  EXPECT_EQ(kernel_.calls,
            (std::vector<std::string>{"add via 203.0.113.1 if3 metric 9 "
                                      "proto 122"}));
}

TEST_F(Mwan3AgentTest, ASteeringChangeIsHandledForAWhile) {
  Rules(1300);
  State("wan", "online");
  State("wanb", "online");
  Mwan3Settings settings;
  settings.handling = std::chrono::seconds(25);
  auto agent = Agent(settings);
  agent->Look(kernel_.model, "start");
  EXPECT_TRUE(agent->Findings({}).empty());
  State("wan", "offline");
  FilesChanged(*agent);
  std::vector<Finding> findings = agent->Findings({});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, Finding::Kind::kHandling);
  EXPECT_EQ(findings[0].source, "mwan3");
  EXPECT_NE(findings[0].evidence.find("added default via 203.0.113.1 dev "
                                      "wan1 metric 9"),
            std::string::npos)
      << findings[0].evidence;
  EXPECT_EQ(agent->handling_until(), now_ + std::chrono::seconds(25));
  now_ += std::chrono::seconds(25);
  EXPECT_TRUE(agent->Findings({}).empty());
}

TEST_F(Mwan3AgentTest, ModeBFindingsLastWhileTheConnectionsDo) {
  Rules(5200);
  State("wan", "online");
  State("wanb", "online");
  auto agent = Agent();
  agent->Look(kernel_.model, "start");
  State("wan", "offline");
  FilesChanged(*agent);
  // The last check judged the 443 connection: DERP.
  JudgedConnection derp;
  derp.kind = ConnectionKind::kDerp;
  derp.local = kDerp.local;
  derp.remote = kDerp.remote;
  std::vector<JudgedConnection> judged = {derp};
  std::vector<Finding> findings = agent->Findings(judged);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].kind, Finding::Kind::kControlPathDead);
  EXPECT_EQ(findings[0].evidence,
            "wan (wan0) is offline per mwan3 (tailscaled in mode B); its "
            "control connection 198.51.100.2:41234 -> 192.0.2.100:80 carried "
            "its mark 0x100: its conntrack entry is gone, its next packets "
            "leave by another WAN with another address, which the far side "
            "drops or resets");
  EXPECT_EQ(findings[1].kind, Finding::Kind::kDerpPathDead);
  // Without a judgement the 443 one is neither: no finding for it.
  EXPECT_EQ(agent->Findings({}).size(), 1u);

  // Both still established: nothing changes. Cannot list: kept.
  established_ = std::vector<MovedConnection>{kControl, kDerp};
  EXPECT_FALSE(agent->RecheckMovedConnections());
  established_.reset();
  EXPECT_FALSE(agent->RecheckMovedConnections());
  // `start` replaced the control connection.
  established_ = std::vector<MovedConnection>{kDerp};
  EXPECT_TRUE(agent->RecheckMovedConnections());
  findings = agent->Findings(judged);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, Finding::Kind::kDerpPathDead);
  established_ = std::vector<MovedConnection>{};
  EXPECT_TRUE(agent->RecheckMovedConnections());
  EXPECT_TRUE(agent->Findings(judged).empty());
  EXPECT_FALSE(agent->RecheckMovedConnections());
}

}  // namespace
}  // namespace watchdog
