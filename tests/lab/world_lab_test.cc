// The world (world.h) and each scenario of the catalogue (scenarios.h) on
// the real kernel: a TCP flow with tailscaled's bypass mark is opened to the
// "control server" before the failure, then the test checks what the
// scenario says the world does — the old flow dies silently where a drop
// counter counts it (or is reset), the router sees a change or nothing, and
// a new flow reaches the far side from the public address it says. The mwan3
// stand-in's tracker, events and files get a test of their own. Time scale
// 0.05: mwan3track's 10 s interval is 0.5 s.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "fake_tailscaled_process.h"
#include "tests/lab/lab.h"
#include "tests/lab/scenarios.h"
#include "tests/lab/world.h"

namespace lab {
namespace {

using netlink::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double kTimeScale = 0.05;  // 20 times faster

std::string RouterSnapshot() {
  return ShOutput(
      "ip -o link; ip -o addr; ip route show table all; ip -4 rule; ip -6 "
      "rule");
}

// Lines of `a` that `b` lacks, each prefixed with `sign`.
std::string Missing(const std::string& a, const std::string& b, char sign) {
  std::string out;
  std::istringstream in(a);
  for (std::string line; std::getline(in, line);) {
    if (b.find(line + "\n") == std::string::npos) out += sign + line + "\n";
  }
  return out;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class WorldLabBase : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    char tmpl[] = "/tmp/tswatchdog-world-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    scratch_ = tmpl;
    const std::string problem = EnterPrivateMounts(scratch_);
    ASSERT_EQ(problem, "");
    world_ = std::make_unique<World>();
    ctx_.world = world_.get();
    ctx_.time_scale = kTimeScale;
    ctx_.mwan3_binary = MWAN3_STANDIN_BINARY;
  }
  void TearDown() override {
    if (ctx_.mwan3) ctx_.mwan3->Stop(seconds(5));  // its trackers too
    ctx_.mwan3.reset();
    world_.reset();
    if (scratch_.empty()) return;
    umount2("/etc", MNT_DETACH);
    umount2("/run", MNT_DETACH);
    umount2(scratch_.c_str(), MNT_DETACH);
    rmdir(scratch_.c_str());
  }

  // A new flow with `mark`: the address the far side sees ("" if none).
  std::string NewFlowPeer(int listener, unsigned mark, milliseconds timeout,
                          const Netns* from = nullptr) {
    UniqueFd client = ConnectTcp(kControlIp, kControlPort, mark, timeout, from);
    if (!client) return "";
    std::string peer;
    UniqueFd server = AcceptWithin(listener, seconds(5), &peer);
    return server ? peer : "accept failed";
  }

  std::string scratch_;
  std::unique_ptr<World> world_;
  ScenarioContext ctx_;
};

class WorldLab : public WorldLabBase,
                 public ::testing::WithParamInterface<std::string> {};
class Mwan3Lab : public WorldLabBase {};

// Both ends write; neither reads anything or sees an error for a while,
// and the scenario's drop counter counts the packets.
void ExpectSilentlyDead(const World& world, const Scenario& s, int client,
                        int server) {
  const long drops =
      s.drop_counter.empty() ? 0 : world.DropCount(s.drop_counter);
  ASSERT_TRUE(SendAll(client, "after"));
  ASSERT_TRUE(SendAll(server, "after"));
  if (!s.drop_counter.empty()) {
    EXPECT_TRUE(fake::WaitUntil(
        [&] { return world.DropCount(s.drop_counter) > drops; }, seconds(10)))
        << s.drop_counter << " counted nothing";
  }
  // "Nothing may happen for this long": the scenario's own claim.
  EXPECT_EQ(WaitReadable(server, milliseconds(700)), ReadState::kTimeout);
  EXPECT_EQ(WaitReadable(client, milliseconds(300)), ReadState::kTimeout);
}

TEST_P(WorldLab, ScenarioBehavesAsItSays) {
  const Scenario* s = FindScenario(GetParam());
  ASSERT_NE(s, nullptr);
  s->setup(ctx_);
  UniqueFd listener = ListenIn(world_->internet(), kControlIp, kControlPort);
  ASSERT_TRUE(listener);
  UniqueFd client, server;
  if (s->old_flow != OldFlow::kNone) {
    client = ConnectTcp(kControlIp, kControlPort, kTailscaleMark, seconds(5));
    ASSERT_TRUE(client) << std::strerror(errno);
    std::string peer;
    server = AcceptWithin(listener.get(), seconds(5), &peer);
    ASSERT_TRUE(server);
    EXPECT_EQ(peer, kIspAPublic) << "before the failure, via wan0 and isp_a";
    ASSERT_TRUE(SendAll(client.get(), "hello"));
    ASSERT_EQ(WaitReadable(server.get(), seconds(5)), ReadState::kData);
    char buf[16];
    ASSERT_EQ(recv(server.get(), buf, sizeof buf, 0), 5);
  }
  if (ctx_.mwan3) {
    EXPECT_EQ(ctx_.tailscale_rule_base, s->id == "c" ? 1300 : 5200);
  }
  const std::string before = RouterSnapshot();
  s->fail(ctx_);
  if (s->wait_mwan3_offline) {
    ASSERT_TRUE(WaitIfaceState("wan", "offline", seconds(20)));
  }
  const std::string after = RouterSnapshot();
  EXPECT_EQ(after != before, s->router_sees_it)
      << Missing(before, after, '-') << Missing(after, before, '+');

  switch (s->old_flow) {
    case OldFlow::kSilentlyDead:
      ExpectSilentlyDead(*world_, *s, client.get(), server.get());
      break;
    case OldFlow::kReset: {
      ASSERT_TRUE(SendAll(client.get(), "after"));
      int error = 0;
      EXPECT_EQ(WaitReadable(client.get(), seconds(10), &error),
                ReadState::kError);
      EXPECT_EQ(error, ECONNRESET) << std::strerror(error);
      break;
    }
    case OldFlow::kAlive:
      ASSERT_TRUE(SendAll(client.get(), "after"));
      EXPECT_EQ(WaitReadable(server.get(), seconds(5)), ReadState::kData);
      break;
    case OldFlow::kNone:
    case OldFlow::kUnchecked:
      break;
  }
  const bool reachable = !s->new_flow_public.empty();
  EXPECT_EQ(NewFlowPeer(listener.get(), kTailscaleMark,
                        reachable ? seconds(10) : milliseconds(700)),
            s->new_flow_public)
      << "a new flow with tailscaled's mark";
  if (!s->lan_flow_public.empty()) {
    EXPECT_EQ(NewFlowPeer(listener.get(), 0, seconds(10), &world_->lan()),
              s->lan_flow_public)
        << "a new flow from the LAN host";
    EXPECT_EQ(NewFlowPeer(listener.get(), 0, seconds(10)), s->lan_flow_public)
        << "a new flow of the router's own, without a mark";
  }
}

std::vector<std::string> AllIds() {
  std::vector<std::string> ids;
  for (const auto& s : Catalogue()) ids.push_back(s.id);
  return ids;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, WorldLab, ::testing::ValuesIn(AllIds()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// mwan3 mode A: the tracker notices the silent death, fires disconnecting
// then disconnected through hotplug (scripts of /etc/hotplug.d/iface and
// /etc/mwan3.user), writes its status files, rebuilds the policy chain and
// leaves routes and rules alone; later connecting and connected.
TEST_F(Mwan3Lab, TrackerEventsFilesAndPolicies) {
  // Scenario (c)'s setup, with two recorders installed first: a hotplug
  // script of our own and /etc/mwan3.user.
  const std::string log = scratch_ + "/events";
  ASSERT_EQ(Sh("mkdir -p /etc/hotplug.d/iface"), 0);
  std::ofstream(std::string("/etc/hotplug.d/iface/90-record"))
      << "echo \"hotplug $ACTION $INTERFACE $DEVICE\" >> " << log << "\n";
  std::ofstream(std::string("/etc/mwan3.user"))
      << "#!/bin/sh\necho \"user $ACTION $INTERFACE $DEVICE\" >> " << log
      << "\n";
  world_->AddMainDefaults();
  StartMwan3(ctx_, 'A');
  EXPECT_EQ(ctx_.tailscale_rule_base, 1300);
  const std::string track = "/var/run/mwan3track/wan/";
  ASSERT_TRUE(fake::WaitUntil(
      [&] { return ReadText(track + "STATUS") == "online\n"; }, seconds(10)));
  EXPECT_EQ(ReadText(track + "STARTED"), "1\n");
  EXPECT_NE(ReadText(track + "PID"), "");
  EXPECT_EQ(ReadText("/var/run/mwan3/iface_state/wan"), "online\n");
  const std::string rules = ShOutput("ip -4 rule");
  for (const char* rule :
       {"1001:\tfrom all iif wan0 lookup 1",
        "1310:\tfrom all fwmark 0x80000/0xff0000 lookup main",
        "2001:\tfrom all fwmark 0x100/0x3f00 lookup 1",
        "3002:\tfrom all fwmark 0x200/0x3f00 unreachable"}) {
    EXPECT_NE(rules.find(rule), std::string::npos) << rule << "\n" << rules;
  }

  world_->KillIspAUpstream();
  ASSERT_TRUE(WaitIfaceState("wan", "offline", seconds(20)));
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        return ReadText(log).find("user disconnected") != std::string::npos;
      },
      seconds(5)));
  const std::string events = ReadText(log);
  EXPECT_LT(events.find("hotplug disconnecting wan wan0"),
            events.find("hotplug disconnected wan wan0"))
      << events;
  EXPECT_NE(events.find("user disconnecting wan wan0"), std::string::npos);
  EXPECT_EQ(ReadText(track + "STATUS"), "offline\n");
  EXPECT_EQ(ReadText(track + "TRACK_192.0.2.102"), "down\n");
  EXPECT_EQ(ReadText(track + "ONLINE"), "0\n");
  EXPECT_NE(ShOutput("iptables -t mangle -S mwan3_policy_wan_wanb")
                .find("\"wanb 2 2\" -j MARK --set-xmark 0x200/0x3f00"),
            std::string::npos);
  // The LAN follows mwan3's policy to wanb; tailscaled's path (mark 0x80000)
  // stays on the dead wan0: rule 1310 wins.
  UniqueFd listener = ListenIn(world_->internet(), kControlIp, kControlPort);
  ASSERT_TRUE(listener);
  EXPECT_EQ(NewFlowPeer(listener.get(), 0, seconds(10), &world_->lan()),
            kIspBPublic);
  EXPECT_NE(ShOutput("ip route get 192.0.2.100 mark 0x80000").find("dev wan0"),
            std::string::npos);
  EXPECT_EQ(ShOutput("ip -4 rule"), rules) << "mwan3 leaves the rules alone";

  world_->RestoreIspAUpstream();
  ASSERT_TRUE(WaitIfaceState("wan", "online", seconds(20)));
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        return ReadText(log).find("user connected", events.size()) !=
               std::string::npos;
      },
      seconds(5)));
  const std::string later = ReadText(log);
  const size_t connecting =
      later.find("hotplug connecting wan wan0", events.size());
  EXPECT_NE(connecting, std::string::npos) << later;
  EXPECT_LT(connecting, later.find("hotplug connected wan wan0", connecting))
      << later;
  EXPECT_NE(ShOutput("iptables -t mangle -S mwan3_policy_wan_wanb")
                .find("\"wan 3 3\" -j MARK --set-xmark 0x100/0x3f00"),
            std::string::npos);
}

// The boot race: tailscaled started before mwan3 has its rules at 5200; a
// restart once mwan3 runs brings them to 1300 (mode A).
TEST_F(Mwan3Lab, RestartInModeBComesBackInModeA) {
  world_->AddMainDefaults();
  StartMwan3(ctx_, 'B');
  EXPECT_EQ(ctx_.tailscale_rule_base, 5200);
  EXPECT_NE(ShOutput("ip -4 rule").find("5210:"), std::string::npos);
  ASSERT_EQ(Sh(ctx_.OnTailscaledRestart()), 0);
  const std::string v4 = ShOutput("ip -4 rule"), v6 = ShOutput("ip -6 rule");
  EXPECT_EQ(v4.find("5210:"), std::string::npos) << v4;
  EXPECT_NE(v4.find("1310:\tfrom all fwmark 0x80000/0xff0000 lookup main"),
            std::string::npos)
      << v4;
  EXPECT_NE(v6.find("1370:\tfrom all lookup 52"), std::string::npos) << v6;
  EXPECT_EQ(v6.find("5270:"), std::string::npos) << v6;
}

// netifd's ifdown and ifup through mwan3's hotplug script: the interface's
// rules, table and chain go and come back, and the policy follows.
TEST_F(Mwan3Lab, IfdownAndIfupLikeNetifd) {
  world_->AddMainDefaults();
  StartMwan3(ctx_, 'A');
  auto hotplug = [](const std::string& action) {
    return Sh("ACTION=" + action + " INTERFACE=wanb DEVICE=wan1 /bin/sh " +
              "/etc/hotplug.d/iface/15-mwan3");
  };
  ASSERT_EQ(hotplug("ifdown"), 0);
  EXPECT_EQ(ReadText("/var/run/mwan3/iface_state/wanb"), "offline\n");
  const std::string rules = ShOutput("ip -4 rule");
  EXPECT_EQ(rules.find("1002:"), std::string::npos) << rules;
  EXPECT_EQ(rules.find("2002:"), std::string::npos) << rules;
  EXPECT_EQ(ShOutput("ip -4 route show table 2"), "");
  EXPECT_EQ(ShOutput("iptables -t mangle -S mwan3_iface_in_wanb 2>/dev/null"),
            "");
  ASSERT_EQ(hotplug("ifup"), 0);
  EXPECT_EQ(ReadText("/var/run/mwan3/iface_state/wanb"), "online\n");
  EXPECT_NE(ShOutput("ip -4 rule")
                .find("2002:\tfrom all fwmark 0x200/0x3f00 "
                      "lookup 2"),
            std::string::npos);
  EXPECT_NE(
      ShOutput("ip -4 route show table 2").find("default via 203.0.113.1"),
      std::string::npos);
  EXPECT_NE(ShOutput("iptables -t mangle -S mwan3_iface_in_wanb")
                .find("-i wan1 -m mark --mark 0x0/0x3f00 -m comment --comment "
                      "wanb -j MARK --set-xmark 0x200/0x3f00"),
            std::string::npos);
  // Events mwan3's script ignores leave everything as it was.
  const std::string before = ShOutput("iptables -t mangle -S; ip rule");
  EXPECT_EQ(hotplug("disconnecting"), 1);
  EXPECT_EQ(ShOutput("iptables -t mangle -S; ip rule"), before);
}

}  // namespace
}  // namespace lab
