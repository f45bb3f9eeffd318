// The mwan3 stand-in's pure parts (tests/mwan3): UCI reading, mwan3's mark
// arithmetic, rules and chains, and mwan3track's scoring. Expected outputs
// are what mwan3 2.12.2's shell functions produce for the same config.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/mwan3/mwan3_config.h"
#include "tests/mwan3/mwan3_tracker.h"
#include "tests/mwan3/uci.h"

namespace mwan3 {
namespace {

constexpr char kMwan3[] = R"(# two WANs, failover
config globals 'globals'
	option mmx_mask '0x3F00'

config interface 'wan'
	option enabled '1'
	list track_ip '192.0.2.102'
	option family 'ipv4'

config interface "wanb"
	option enabled 1
	list track_ip 192.0.2.102
	list track_ip 192.0.2.103
	option reliability '2'
	option interval '3'

config member 'wan_m1_w3'
	option interface 'wan'
	option metric '1'
	option weight '3'

config member 'wanb_m2_w2'
	option interface 'wanb'
	option metric '2'
	option weight '2'

config member 'wanb_m1_w2'
	option interface 'wanb'
	option metric '1'
	option weight '2'

config policy 'wan_wanb'
	list use_member 'wan_m1_w3'
	list use_member 'wanb_m2_w2'

config policy 'balanced'
	list use_member 'wan_m1_w3'
	list use_member 'wanb_m1_w2'

config rule 'default_rule_v4'
	option dest_ip '0.0.0.0/0'
	option use_policy 'wan_wanb'
	option family 'ipv4'
)";

constexpr char kNetwork[] = R"(config interface 'wan'
	option device 'wan0'
config interface 'wanb'
	option ifname 'wan1'
)";

Config Load() {
  std::string error;
  auto mwan3 = ParseUci(kMwan3, "mwan3", &error);
  auto network = ParseUci(kNetwork, "network", &error);
  EXPECT_TRUE(mwan3 && network) << error;
  auto c = LoadConfig(*mwan3, *network, &error);
  EXPECT_TRUE(c) << error;
  return c.value_or(Config{});
}

TEST(Uci, SectionsOptionsListsAndQuotes) {
  std::string error;
  auto f = ParseUci(kMwan3, "mwan3", &error);
  ASSERT_TRUE(f) << error;
  ASSERT_EQ(f->OfType("interface").size(), 2u);
  const UciSection* wanb = f->Find("wanb");
  ASSERT_NE(wanb, nullptr);
  EXPECT_EQ(wanb->List("track_ip"),
            (std::vector<std::string>{"192.0.2.102", "192.0.2.103"}));
  EXPECT_EQ(wanb->GetInt("reliability", 1), 2);
  EXPECT_TRUE(wanb->GetBool("enabled", false));
  auto anon = ParseUci("config rule\n\toption proto 'tcp'\n", "x", &error);
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->sections[0].name, "cfg0");
}

TEST(Uci, ErrorsNameFileAndLine) {
  std::string error;
  EXPECT_FALSE(
      ParseUci("config a 'b'\n\toption x 'open\n", "/etc/config/m", &error));
  EXPECT_EQ(error, "/etc/config/m:2: unterminated quote");
  EXPECT_FALSE(ParseUci("option x y\n", "f", &error));
  EXPECT_EQ(error, "f:1: option before any config");
  EXPECT_FALSE(ParseUci("config a b\n  bogus x y\n", "f", &error));
  EXPECT_EQ(error, "f:2: unknown keyword 'bogus'");
}

TEST(Mwan3Config, IdsDevicesAndTrackerDefaults) {
  Config c = Load();
  ASSERT_EQ(c.interfaces.size(), 2u);
  EXPECT_EQ(c.interfaces[0].id, 1);
  EXPECT_EQ(c.interfaces[0].device, "wan0");
  EXPECT_EQ(c.interfaces[1].device, "wan1");  // the older `ifname`
  const Interface& wan = c.interfaces[0];
  EXPECT_EQ(wan.timeout_s, 4);
  EXPECT_EQ(wan.interval_s, 10);
  EXPECT_EQ(wan.down, 5);
  EXPECT_EQ(wan.up, 5);
  EXPECT_EQ(c.interfaces[1].failure_interval_s, 3);  // defaults to interval
}

TEST(Mwan3Config, MarkArithmetic) {
  Config c;
  EXPECT_EQ(c.MmDefault(), 63);
  EXPECT_EQ(c.MmBlackhole(), 61);
  EXPECT_EQ(c.MmUnreachable(), 62);
  EXPECT_EQ(c.IdMask(1), 0x100u);
  EXPECT_EQ(c.IdMask(2), 0x200u);
  EXPECT_EQ(c.IdMask(c.MmDefault()), 0x3f00u);
  EXPECT_EQ(Hex(c.IdMask(c.MmBlackhole())), "0x3d00");
  c.mmx_mask = 0xAA;  // mwan3_id2mask's own example: 0x05 over 0xAA
  EXPECT_EQ(c.IdMask(5), 0x22u);
}

TEST(Mwan3Config, UnsupportedOptionsAreErrors) {
  std::string error;
  auto f = ParseUci("config rule 'https'\n\toption sticky '1'\n", "m", &error);
  ASSERT_TRUE(f);
  EXPECT_FALSE(LoadConfig(*f, UciFile{}, &error));
  EXPECT_NE(error.find("'https'"), std::string::npos) << error;
}

TEST(Mwan3Rules, InterfaceRulesAndChain) {
  Config c = Load();
  auto rules = IfaceRules(c, c.interfaces[1], {0, 1002, 2002, 3002, 32766});
  ASSERT_EQ(rules.size(), 6u);  // three deletions, three additions
  EXPECT_EQ(rules[0], (Argv{"ip", "-4", "rule", "del", "pref", "1002"}));
  EXPECT_EQ(rules[3], (Argv{"ip", "-4", "rule", "add", "pref", "1002", "iif",
                            "wan1", "lookup", "2"}));
  EXPECT_EQ(rules[4], (Argv{"ip", "-4", "rule", "add", "pref", "2002", "fwmark",
                            "0x200/0x3f00", "lookup", "2"}));
  EXPECT_EQ(rules[5], (Argv{"ip", "-4", "rule", "add", "pref", "3002", "fwmark",
                            "0x200/0x3f00", "unreachable"}));
  const std::string chain = IfaceIptables(c, c.interfaces[0], Current{});
  EXPECT_NE(chain.find("-A mwan3_iface_in_wan -i wan0 -m mark --mark "
                       "0x0/0x3f00 -m comment --comment wan -j MARK "
                       "--set-xmark 0x100/0x3f00\n"),
            std::string::npos)
      << chain;
  EXPECT_EQ(GeneralRules(c, Family::kIpv4, {2061}).size(), 1u);
}

TEST(Mwan3Rules, HookRestoresThenSavesTheConnmark) {
  const std::string hook = GeneralIptables(Load(), Family::kIpv4, Current{});
  const size_t restore = hook.find("-j CONNMARK --restore-mark");
  const size_t rules = hook.find("-j mwan3_rules");
  const size_t save = hook.find("-j CONNMARK --save-mark");
  ASSERT_NE(restore, std::string::npos);
  EXPECT_LT(restore, rules);
  EXPECT_LT(rules, save);
  EXPECT_NE(hook.find("-A PREROUTING -j mwan3_hook\n"), std::string::npos);
  EXPECT_NE(hook.find("-A OUTPUT -j mwan3_hook\n"), std::string::npos);
  // Already hooked: not twice.
  const std::string again =
      GeneralIptables(Load(), Family::kIpv4,
                      Current{"-N mwan3_hook\n-A OUTPUT -j mwan3_hook\n"
                              "-A PREROUTING -j mwan3_hook\n"});
  EXPECT_EQ(again.find("mwan3_hook"), std::string::npos) << again;
}

// The policy chains for each combination of online members.
TEST(Mwan3Rules, PolicyChainsHoldOnlineMembersOnly) {
  const Config c = Load();
  struct Case {
    bool wan, wanb;
    std::string failover;  // mwan3_policy_wan_wanb's -A lines, joined
  } cases[] = {
      {true, true, "wan 3 3\" -j MARK --set-xmark 0x100"},
      {false, true, "wanb 2 2\" -j MARK --set-xmark 0x200"},
      {true, false, "wan 3 3\" -j MARK --set-xmark 0x100"},
      {false, false,
       "-o wan1 -m mark --mark 0x0/0x3f00 -m comment --comment \"out wanb "
       "wan1\""},
  };
  for (const auto& k : cases) {
    const std::string text = PoliciesIptables(
        c, Family::kIpv4, Current{}, {{"wan", k.wan}, {"wanb", k.wanb}});
    std::string failover;
    for (size_t at = 0;
         (at = text.find("-A mwan3_policy_wan_wanb ", at)) != std::string::npos;
         ++at) {
      failover += text.substr(at, text.find('\n', at) - at) + "\n";
    }
    EXPECT_NE(failover.find(k.failover), std::string::npos)
        << k.wan << k.wanb << "\n"
        << failover;
    const size_t lines = std::count(failover.begin(), failover.end(), '\n');
    EXPECT_EQ(lines, k.wan || k.wanb ? 1u : 3u) << failover;
  }
  // Equal metrics: the second member is inserted first, with its share.
  const std::string balanced = PoliciesIptables(
      c, Family::kIpv4, Current{}, {{"wan", true}, {"wanb", true}});
  EXPECT_NE(balanced.find("-A mwan3_policy_balanced -m mark --mark 0x0/0x3f00 "
                          "-m statistic --mode random --probability 0.400 -m "
                          "comment --comment \"wanb 2 5\""),
            std::string::npos)
      << balanced;
}

TEST(Mwan3Rules, TableRoutesCopyEachDevicesRoutes) {
  const Config c = Load();
  auto routes = TableRoutes(
      c, Family::kIpv4,
      {"default via 198.51.100.1 dev wan0 metric 10 ",
       "default via 203.0.113.1 dev wan1 metric 20 linkdown",
       "192.168.1.0/24 dev br-lan proto kernel scope link src 192.168.1.1"},
      {1, 2});
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0],
            (Argv{"ip", "-4", "route", "add", "table", "1", "default", "via",
                  "198.51.100.1", "dev", "wan0", "metric", "10"}));
  EXPECT_EQ(routes[1].back(), "20");  // `linkdown` dropped
  EXPECT_EQ(routes[2][5], "1");       // the LAN route goes to every table
  EXPECT_EQ(routes[3][5], "2");
}

TEST(Mwan3Ipsets, ConnectedNetworks) {
  const std::string text = IpsetRestore(
      {"default via 198.51.100.1 dev wan0", "198.51.100.0/24 dev wan0"},
      {"local 198.51.100.2 dev wan0 table local proto kernel",
       "default via 198.51.100.1 dev wan0"},
      {"2001:db8:a::/64 dev wan0 proto kernel", "fe80::/64 dev wan0"});
  EXPECT_NE(text.find("-! add mwan3_connected_ipv4 198.51.100.0/24\n"),
            std::string::npos);
  EXPECT_NE(text.find("-! add mwan3_connected_ipv4 198.51.100.2\n"),
            std::string::npos);
  EXPECT_NE(text.find("-! add mwan3_connected_ipv4 224.0.0.0/3\n"),
            std::string::npos);
  EXPECT_NE(text.find("-! add mwan3_connected_ipv6 2001:db8:a::/64\n"),
            std::string::npos);
  EXPECT_EQ(text.find("add mwan3_connected_ipv4 default"), std::string::npos);
  EXPECT_NE(text.find("-! create mwan3_dynamic_ipv4 list:set\n"),
            std::string::npos);
}

// mwan3track at its defaults (down 5, up 5, interval 10 s): the first failed
// round fires `disconnecting`, the fifth `disconnected`; after that five good
// rounds fire `connecting` and then `connected`.
TEST(Mwan3Tracker, DefaultTimeline) {
  Interface wan;
  wan.name = "wan";
  TrackerScore t(wan);
  TrackerRound first = t.FirstConnect();
  EXPECT_EQ(first.events, (std::vector<std::string>{"connected"}));
  std::vector<std::vector<std::string>> events;
  for (int k = 0; k < 7; ++k) events.push_back(t.AfterRound(0, 1).events);
  using V = std::vector<std::string>;
  EXPECT_EQ(events[0], V{"disconnecting"});
  for (int k = 1; k < 4; ++k) EXPECT_EQ(events[k], V{}) << k;
  EXPECT_EQ(events[4], V{"disconnected"});
  EXPECT_EQ(t.status_file(), "offline");
  EXPECT_EQ(t.score(), 0);
  EXPECT_EQ(events[5], V{});
  events.clear();
  for (int k = 0; k < 6; ++k) events.push_back(t.AfterRound(1, 0).events);
  EXPECT_EQ(events[0], V{"connecting"});
  for (int k = 1; k < 4; ++k) EXPECT_EQ(events[k], V{}) << k;
  EXPECT_EQ(events[4], (V{"connected"}));
  EXPECT_EQ(t.status_file(), "online");
  EXPECT_EQ(t.score(), 10);
  EXPECT_EQ(events[5], V{});
}

// A success while disconnecting writes "online" to the file only, so the
// next failure fires no second `disconnecting` (the shell's STATUS variable).
TEST(Mwan3Tracker, RecoveryWhileDisconnectingKeepsTheVariable) {
  Interface wan;
  TrackerScore t(wan);
  t.FirstConnect();
  EXPECT_EQ(t.AfterRound(0, 1).events,
            (std::vector<std::string>{"disconnecting"}));
  EXPECT_TRUE(t.AfterRound(1, 0).events.empty());
  EXPECT_EQ(t.status_file(), "online");
  EXPECT_TRUE(t.AfterRound(0, 1).events.empty());
  EXPECT_EQ(t.status_file(), "online");
}

TEST(Mwan3Tracker, InitialStateOfflineFiresNothing) {
  Interface wan;
  wan.initial_state = "offline";
  TrackerScore t(wan);
  EXPECT_TRUE(t.FirstConnect().events.empty());
  EXPECT_EQ(t.status_file(), "offline");
  EXPECT_EQ(t.AfterRound(1, 0).events,
            (std::vector<std::string>{"connecting"}));
}

}  // namespace
}  // namespace mwan3
