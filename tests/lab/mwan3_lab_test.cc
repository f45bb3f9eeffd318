// mwan3 on the real kernel: its rules (installed with `ip rule`, as mwan3.sh
// does) read back from the kernel's dump, and mode-A steering adding and
// removing exactly our route, seen the way tailscaled's netmon sees it
// (/proc/net/route) and the way its packets are routed (rule 1310).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "netlink/watcher.h"
#include "tests/lab/lab.h"
#include "tests/lab/world.h"
#include "watchdog/core/mwan3.h"
#include "watchdog/core/steering.h"
#include "watchdog/daemon/mwan3_status.h"
#include "watchdog/daemon/route_steerer.h"

namespace {

namespace fs = std::filesystem;
using watchdog::TailscaleRuleMode;

// mwan3_create_iface_rules for wan (id 1, wan0) and wanb (id 2, wan1), its
// blackhole/unreachable rules, and tailscaled's rules at base B.
std::string Mwan3Rules(int base) {
  std::string s = R"(set -e
ip rule add pref 1001 iif wan0 lookup 1
ip rule add pref 2001 fwmark 0x100/0x3f00 lookup 1
ip rule add pref 3001 fwmark 0x100/0x3f00 unreachable
ip rule add pref 1002 iif wan1 lookup 2
ip rule add pref 2002 fwmark 0x200/0x3f00 lookup 2
ip rule add pref 3002 fwmark 0x200/0x3f00 unreachable
ip rule add pref 2061 fwmark 0x3d00/0x3f00 blackhole
ip rule add pref 2062 fwmark 0x3e00/0x3f00 unreachable
)";
  for (const char* family : {"-4", "-6"}) {
    const std::string ip = std::string("ip ") + family + " rule add pref ";
    s += ip + std::to_string(base + 10) +
         " fwmark 0x80000/0xff0000 lookup main\n" + ip +
         std::to_string(base + 30) +
         " fwmark 0x80000/0xff0000 lookup default\n" + ip +
         std::to_string(base + 50) + " fwmark 0x80000/0xff0000 unreachable\n" +
         ip + std::to_string(base + 70) + " lookup 52\n";
  }
  return s;
}

// The routes netifd and mwan3 would have: a main default per WAN (metric
// 10 and 20) and each WAN's default in its mwan3 table.
constexpr const char* kMwan3Routes = R"(set -e
ip route add default via 198.51.100.1 dev wan0 metric 10
ip route add default via 203.0.113.1 dev wan1 metric 20
ip route add default via 198.51.100.1 dev wan0 table 1
ip route add default via 203.0.113.1 dev wan1 table 2
ip route add 192.0.2.128/25 via 203.0.113.1 dev wan1 proto 122 table 7
)";

std::set<std::string> Lines(const std::string& command) {
  std::set<std::string> lines;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return lines;
  char buf[1024];
  while (fgets(buf, sizeof buf, p)) lines.insert(buf);
  pclose(p);
  return lines;
}

std::set<std::string> AllRoutes() {
  std::set<std::string> lines = Lines("ip -o -4 route show table all");
  for (const std::string& l : Lines("ip -o -6 route show table all")) {
    lines.insert(l);
  }
  return lines;
}

std::set<std::string> Minus(const std::set<std::string>& a,
                            const std::set<std::string>& b) {
  std::set<std::string> out;
  for (const std::string& s : a) {
    if (!b.count(s)) out.insert(s);
  }
  return out;
}

// tailscaled's netmon, net/netmon/interfaces_linux.go: the interface of the
// first /proc/net/route line with destination and mask 00000000, skipping
// tailscale* and wg*.
std::string NetmonDefaultInterface() {
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, dst, gw, flags, refcnt, use, metric, mask;
    fields >> iface >> dst >> gw >> flags >> refcnt >> use >> metric >> mask;
    if (iface.rfind("tailscale", 0) == 0 || iface.rfind("wg", 0) == 0) {
      continue;
    }
    if (dst == "00000000" && mask == "00000000") return iface;
  }
  return "";
}

class Mwan3KernelLab : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    lab::CreateDualWan();
    root_ = ::testing::TempDir() + "mwan3_lab_" + std::to_string(getpid());
    fs::remove_all(root_);
    paths_ = watchdog::Mwan3Paths::Under(root_);
    Write(paths_.config, "config interface 'wan'\nconfig interface 'wanb'\n");
    SetState("wan", "online");
    SetState("wanb", "online");
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }

  void Write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << content;
  }
  void SetState(const std::string& wan, const std::string& state) {
    Write(paths_.iface_state_dir + "/" + wan, state + "\n");
  }

  watchdog::Mwan3View View(const netlink::Model& model) {
    watchdog::Mwan3Files files = watchdog::ReadMwan3Files(paths_);
    EXPECT_TRUE(files.problems.empty());
    return watchdog::BuildMwan3View(watchdog::DetectMwan3(model.rules()),
                                    files.interface_order, files.status);
  }

  watchdog::SteeringPlan Plan(netlink::Watcher& watcher) {
    watcher.Resync("test");
    watchdog::SteeringInput in;
    in.routes = watcher.model().routes();
    in.links = watcher.model().links();
    in.mwan3 = View(watcher.model());
    return watchdog::PlanSteering(in);
  }

  std::string root_;
  watchdog::Mwan3Paths paths_;
};

TEST_F(Mwan3KernelLab, DetectsMwan3AndTailscaledsModeFromTheKernel) {
  LAB_RUN(Mwan3Rules(1300));
  netlink::Watcher watcher;
  watchdog::Mwan3Rules rules = watchdog::DetectMwan3(watcher.model().rules());
  EXPECT_TRUE(rules.present);
  EXPECT_EQ(rules.mask, 0x3f00u);
  EXPECT_EQ(rules.mode, TailscaleRuleMode::kA);
  ASSERT_EQ(rules.interfaces.size(), 2u);
  EXPECT_EQ(rules.interfaces[0].device, "wan0");
  EXPECT_TRUE(rules.interfaces[0].unreachable_rule);
  EXPECT_EQ(rules.interfaces[1].device, "wan1");
  EXPECT_EQ(View(watcher.model()).Describe(),
            "mwan3: tailscaled mode A (rule 1310); wan (id 1, wan0) online, "
            "wanb (id 2, wan1) online");

  // tailscaled restarted after a boot race: its rules move to 5200.
  LAB_RUN(
      "for f in -4 -6; do for p in 1310 1330 1350 1370; do "
      "ip $f rule del pref $p; done; done");
  LAB_RUN(
      "for f in -4 -6; do "
      "ip $f rule add pref 5210 fwmark 0x80000/0xff0000 lookup main; done");
  watcher.Resync("test");
  EXPECT_EQ(watchdog::DetectMwan3(watcher.model().rules()).mode,
            TailscaleRuleMode::kB);
}

TEST_F(Mwan3KernelLab, SteeringAddsAndRemovesExactlyOurRoute) {
  LAB_RUN(Mwan3Rules(1300));
  LAB_RUN(kMwan3Routes);
  netlink::Watcher watcher;
  watchdog::KernelRouteTable table;
  const std::set<std::string> before = AllRoutes();
  EXPECT_EQ(NetmonDefaultInterface(), "wan0");
  EXPECT_FALSE(Plan(watcher).changes());  // both online

  // mwan3: disconnected on wan.
  SetState("wan", "offline");
  watchdog::SteeringPlan plan = Plan(watcher);
  ASSERT_TRUE(plan.add) << plan.why;
  watchdog::SteeringResult result =
      watchdog::ApplySteering(table, plan, watcher.model().links());
  ASSERT_TRUE(result.errors.empty()) << result.errors[0];
  const std::set<std::string> steered = AllRoutes();
  EXPECT_EQ(Minus(before, steered), std::set<std::string>{});
  EXPECT_EQ(Minus(steered, before),
            std::set<std::string>{"default via 203.0.113.1 dev wan1 proto 122 "
                                  "metric 9 \n"});
  // What tailscaled's netmon now reads, and where rule 1310 sends its
  // packets.
  EXPECT_EQ(NetmonDefaultInterface(), "wan1");
  auto egress = watcher.RouteTo(*netlink::IpAddress::Parse("192.0.2.1"));
  ASSERT_TRUE(egress);
  EXPECT_EQ(egress->dev, "wan1");
  EXPECT_FALSE(Plan(watcher).changes());  // nothing more to do

  // mwan3: connected on wan again.
  SetState("wan", "online");
  plan = Plan(watcher);
  EXPECT_FALSE(plan.add);
  ASSERT_EQ(plan.remove.size(), 1u);
  result = watchdog::ApplySteering(table, plan, watcher.model().links());
  ASSERT_TRUE(result.errors.empty()) << result.errors[0];
  EXPECT_EQ(AllRoutes(), before);
  EXPECT_EQ(NetmonDefaultInterface(), "wan0");
}

TEST_F(Mwan3KernelLab, ALeftoverRouteOfOursIsRemovedAtStartAndNothingElse) {
  LAB_RUN(kMwan3Routes);
  const std::set<std::string> clean = AllRoutes();
  // What a crash while steering leaves behind.
  LAB_RUN("ip route add default via 203.0.113.1 dev wan1 metric 9 proto 122");
  LAB_RUN(
      "ip -6 route add default via 2001:db8:b::1 dev wan1 metric 5 proto 122");
  netlink::Watcher watcher;
  watchdog::KernelRouteTable table;
  const std::vector<netlink::RouteMessage> routes = watcher.model().routes();
  watchdog::SteeringResult result = watchdog::RemoveOwnRoutes(
      table, routes, "left over from an earlier run", watcher.model().links());
  EXPECT_TRUE(result.errors.empty());
  EXPECT_EQ(result.removed, 2);
  EXPECT_EQ(AllRoutes(), clean);  // the proto 122 route in table 7 stays
  // Twice is harmless.
  result = watchdog::RemoveOwnRoutes(table, routes, "again");
  EXPECT_TRUE(result.errors.empty());
}

// `tswatchdog monitor` shows mwan3's view (tailscaled's mode, each WAN's
// id, device and state) and a line each time it changes. mwan3's files are
// written under private mounts (world.h), never the host's.
TEST(Mwan3MonitorLab, ShowsMwan3sViewAndItsChanges) {
  LAB_ENTER_NETNS_OR_SKIP();
  lab::CreateDualWan();
  char tmpl[] = "/tmp/tswatchdog-mwan3mon-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(lab::EnterPrivateMounts(dir), "");
  const auto write = [](const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  };
  write("/etc/config/mwan3",
        "config interface 'wan'\nconfig interface 'wanb'\n");
  write("/var/run/mwan3/iface_state/wan", "online\n");
  write("/var/run/mwan3/iface_state/wanb", "online\n");
  LAB_RUN(Mwan3Rules(1300));
  lab::Child monitor({TSWATCHDOG_BINARY, "monitor", "--json"});
  std::string line;
  ASSERT_TRUE(monitor.ReadLine(&line, std::chrono::seconds(10)));  // initial
  ASSERT_TRUE(monitor.ReadLine(&line, std::chrono::seconds(10)));
  nlohmann::json view = nlohmann::json::parse(line);
  EXPECT_EQ(view["event"], "mwan3");
  EXPECT_EQ(view["mwan3"]["tailscale_mode"], "A");
  EXPECT_EQ(view["mwan3"]["tailscale_rule"], 1310);
  EXPECT_EQ(view["mwan3"]["wans"][0], nlohmann::json({{"name", "wan"},
                                                      {"id", 1},
                                                      {"family", "v4"},
                                                      {"device", "wan0"},
                                                      {"state", "online"},
                                                      {"tracker", "unknown"}}));
  write("/var/run/mwan3/iface_state/wan", "offline\n");
  ASSERT_TRUE(monitor.ReadLine(&line, std::chrono::seconds(10)));
  view = nlohmann::json::parse(line);
  EXPECT_EQ(view["mwan3"]["wans"][0]["state"], "offline");
  EXPECT_EQ(view["mwan3"]["wans"][1]["state"], "online");
  monitor.Signal(SIGTERM);
  EXPECT_EQ(monitor.Wait(std::chrono::seconds(10)), 0);
  umount2("/etc", MNT_DETACH);
  umount2("/run", MNT_DETACH);
  umount2(dir.c_str(), MNT_DETACH);
  fs::remove_all(dir);
}

}  // namespace
