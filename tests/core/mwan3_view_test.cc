// mwan3, natively: rule detection, tailscaled's mode, the config order, the
// status files (pure), and reading them from a directory tree.
#include <gtest/gtest.h>
#include <linux/fib_rules.h>

#include "tests/core/kernel_messages.h"
#include "watchdog/core/mwan3.h"

namespace watchdog {
namespace {

using netlink::Family;
using netlink::RuleMessage;
using testing::Rule;

// What mwan3 2.12.2 and tailscaled install on a two-WAN router (v4 wan and
// wanb, v6 wan6), tailscaled in mode `base`.
std::vector<RuleMessage> RouterRules(uint32_t base) {
  std::vector<RuleMessage> rules = {
      Rule(0, 255),  // local
      Rule(1001, 1, 0, 0, "wan0"),
      Rule(1002, 2, 0, 0, "wan1"),
      Rule(1003, 3, 0, 0, "wan0", FR_ACT_TO_TBL, Family::kV6),
      Rule(2001, 1, 0x100, 0x3f00),
      Rule(2002, 2, 0x200, 0x3f00),
      Rule(2003, 3, 0x300, 0x3f00, "", FR_ACT_TO_TBL, Family::kV6),
      Rule(2061, 0, 0x3d00, 0x3f00, "", FR_ACT_BLACKHOLE),
      Rule(2062, 0, 0x3e00, 0x3f00, "", FR_ACT_UNREACHABLE),
      Rule(3001, 0, 0x100, 0x3f00, "", FR_ACT_UNREACHABLE),
      Rule(3002, 0, 0x200, 0x3f00, "", FR_ACT_UNREACHABLE),
      Rule(base + 10, 254, 0x80000, 0xff0000),
      Rule(base + 30, 253, 0x80000, 0xff0000),
      Rule(base + 50, 0, 0x80000, 0xff0000, "", FR_ACT_UNREACHABLE),
      Rule(base + 70, 52),
      Rule(base + 10, 254, 0x80000, 0xff0000, "", FR_ACT_TO_TBL, Family::kV6),
      Rule(32766, 254),
      Rule(32767, 253),
  };
  return rules;
}

TEST(Mwan3View, IdToMarkFollowsMwan3) {
  EXPECT_EQ(Mwan3IdToMark(1, 0x3f00), 0x100u);
  EXPECT_EQ(Mwan3IdToMark(60, 0x3f00), 0x3c00u);
  EXPECT_EQ(Mwan3IdToMark(63, 0x3f00), 0x3f00u);
  // mwan3.sh's own example: 0x05 over 0xAA.
  EXPECT_EQ(Mwan3IdToMark(0x05, 0xaa), 0x22u);
  EXPECT_EQ(Mwan3IdToMark(3, 0xff000000), 0x3000000u);
}

TEST(Mwan3View, DetectsMwan3AndModeA) {
  Mwan3Rules r = DetectMwan3(RouterRules(1300));
  EXPECT_TRUE(r.present);
  EXPECT_EQ(r.mask, 0x3f00u);
  EXPECT_EQ(r.mode, TailscaleRuleMode::kA);
  EXPECT_EQ(r.tailscale_base, 1300u);
  ASSERT_EQ(r.interfaces.size(), 3u);
  EXPECT_EQ(r.interfaces[0],
            (Mwan3RuleSet{1, Family::kV4, "wan0", true, true, 1}));
  EXPECT_EQ(r.interfaces[1],
            (Mwan3RuleSet{2, Family::kV4, "wan1", true, true, 2}));
  EXPECT_EQ(r.interfaces[2],
            (Mwan3RuleSet{3, Family::kV6, "wan0", true, false, 3}));
}

TEST(Mwan3View, ModeBOtherAndNone) {
  EXPECT_EQ(DetectMwan3(RouterRules(5200)).mode, TailscaleRuleMode::kB);
  Mwan3Rules other = DetectMwan3(RouterRules(2300));
  EXPECT_EQ(other.mode, TailscaleRuleMode::kOther);
  EXPECT_EQ(other.tailscale_base, 2300u);
  // A plain host: tailscaled's rules, no mwan3.
  std::vector<RuleMessage> host = {Rule(5210, 254, 0x80000, 0xff0000),
                                   Rule(5270, 52), Rule(32766, 254)};
  Mwan3Rules plain = DetectMwan3(host);
  EXPECT_FALSE(plain.present);
  EXPECT_EQ(plain.mode, TailscaleRuleMode::kB);
  EXPECT_TRUE(plain.interfaces.empty());
  // No tailscaled, no mwan3; an iif rule that only looks like mwan3's.
  std::vector<RuleMessage> bare = {Rule(1001, 1, 0, 0, "lan0")};
  EXPECT_EQ(DetectMwan3(bare).mode, TailscaleRuleMode::kNone);
  EXPECT_FALSE(DetectMwan3(bare).present);
}

TEST(Mwan3View, MarksThatAreNotTheIdsAreNotMwan3s) {
  std::vector<RuleMessage> rules = {
      Rule(2001, 1, 0x200, 0x3f00),  // mark of id 2 at 2001
      Rule(2002, 7, 0x200, 0x3f00),  // table is not the id
      Rule(2003, 3, 0x300, 0),       // no mask
      Rule(2004, 4, 0x400, 0x3f00, "", FR_ACT_UNREACHABLE),
  };
  EXPECT_FALSE(DetectMwan3(rules).present);
  // A custom mmx_mask works the same.
  std::vector<RuleMessage> custom = {Rule(2001, 1, 0x10000, 0xf0000),
                                     Rule(1001, 1, 0, 0, "wan0")};
  Mwan3Rules r = DetectMwan3(custom);
  EXPECT_TRUE(r.present);
  EXPECT_EQ(r.mask, 0xf0000u);
  EXPECT_EQ(r.interfaces[0].device, "wan0");
}

TEST(Mwan3View, InterfaceOrderFromUci) {
  const char* uci = R"(
config globals 'globals'
	option mmx_mask '0x3F00'

config interface 'wan'
	option enabled '1'
	list track_ip '192.0.2.53'

# config interface 'commented'
config interface "wanb"
	option family 'ipv4'

config interface wan6
config interface
config member 'wan_m1_w3'
	option interface 'wan'
  config   'interface'   'lte'   # trailing comment
config rule 'https'
)";
  EXPECT_EQ(Mwan3InterfaceOrder(uci),
            (std::vector<std::string>{"wan", "wanb", "wan6", "", "lte"}));
  EXPECT_TRUE(Mwan3InterfaceOrder("").empty());
  EXPECT_TRUE(Mwan3InterfaceOrder("config interface 'unterminated").size() ==
              1);
}

TEST(Mwan3View, StatusFileContent) {
  EXPECT_EQ(ParseMwan3Status("online\n"), WanState::kOnline);
  EXPECT_EQ(ParseMwan3Status("offline"), WanState::kOffline);
  EXPECT_EQ(ParseMwan3Status(" disconnecting \n"), WanState::kDisconnecting);
  EXPECT_EQ(ParseMwan3Status("connecting\n"), WanState::kConnecting);
  EXPECT_EQ(ParseMwan3Status("disabled\n"), WanState::kDisabled);
  EXPECT_EQ(ParseMwan3Status(""), WanState::kUnknown);  // caught mid-write
  EXPECT_EQ(ParseMwan3Status("onl"), WanState::kUnknown);
  EXPECT_EQ(ParseMwan3Status(std::string("online\0x", 8)), WanState::kUnknown);
}

TEST(Mwan3View, ViewJoinsRulesNamesAndStates) {
  const std::vector<std::string> order = {"wan", "wanb", "wan6", "lte"};
  std::map<std::string, Mwan3StatusFiles> files;
  files["wan"] = {"offline\n", "offline\n"};
  files["wanb"] = {"online\n", "online\n"};
  files["wan6"] = {std::nullopt, "disconnecting\n"};
  files["lte"] = {"offline\n", std::nullopt};  // no rules: not up
  Mwan3View view = BuildMwan3View(DetectMwan3(RouterRules(1300)), order, files);
  ASSERT_EQ(view.wans.size(), 4u);
  EXPECT_EQ(view.wans[0], (Mwan3Wan{"wan", 1, Family::kV4, "wan0",
                                    WanState::kOffline, WanState::kOffline}));
  EXPECT_EQ(view.wans[1].state, WanState::kOnline);
  EXPECT_EQ(view.wans[2].name, "wan6");
  EXPECT_EQ(view.wans[2].state, WanState::kUnknown);
  EXPECT_EQ(view.wans[2].track, WanState::kDisconnecting);
  EXPECT_EQ(view.wans[3].name, "lte");
  EXPECT_EQ(view.wans[3].id, 4u);
  EXPECT_EQ(view.wans[3].device, "");
  EXPECT_EQ(view.FindByDevice("wan1", Family::kV4)->name, "wanb");
  EXPECT_EQ(view.FindByDevice("wan0", Family::kV6)->name, "wan6");
  EXPECT_EQ(view.FindByDevice("wan1", Family::kV6), nullptr);
  EXPECT_EQ(view.FindByDevice("", Family::kV4), nullptr);
  EXPECT_EQ(view.Describe(),
            "mwan3: tailscaled mode A (rule 1310); wan (id 1, wan0) offline, "
            "wanb (id 2, wan1) online, wan6 (id 3, wan0) unknown, lte (id 4) "
            "offline");
  EXPECT_EQ(view.wans[0].Label(), "wan (wan0)");
  EXPECT_EQ(view.wans[3].Label(), "lte");
  EXPECT_EQ(Mwan3Wan{.id = 7}.Label(), "id 7");
  EXPECT_EQ(BuildMwan3View({}, {}, {}).Describe(), "mwan3: not present");
}

}  // namespace
}  // namespace watchdog
