// Following mwan3 (pure): what changes are logged, when a mode-B cleanup
// fires (a change to offline from a known other state, never on unknown),
// when steering waits, and what a cleanup report says.
#include "watchdog/core/mwan3_follow.h"

#include <gtest/gtest.h>
#include <linux/fib_rules.h>

#include "tests/core/kernel_messages.h"

namespace watchdog {
namespace {

using netlink::Family;
using netlink::IpAddress;
using netlink::RuleMessage;
using testing::Rule;

// wan (id 1, wan0) and wanb (id 2, wan1); tailscaled at `base` (0: no
// rules of its own); `wan`, `wanb`: their iface_state ("" = no file).
Mwan3View View(uint32_t base, const char* wan, const char* wanb,
               bool mwan3 = true) {
  std::vector<RuleMessage> rules;
  if (mwan3) {
    rules = {Rule(1001, 1, 0, 0, "wan0"), Rule(1002, 2, 0, 0, "wan1"),
             Rule(2001, 1, 0x100, 0x3f00), Rule(2002, 2, 0x200, 0x3f00)};
  }
  if (base) rules.push_back(Rule(base + 10, 254, 0x80000, 0xff0000));
  std::map<std::string, Mwan3StatusFiles> files;
  if (*wan) files["wan"].iface_state = wan;
  if (*wanb) files["wanb"].iface_state = wanb;
  const std::vector<std::string> order = {"wan", "wanb"};
  return BuildMwan3View(DetectMwan3(rules), order, files);
}

struct Look {
  Mwan3View view;
  std::vector<std::string> changes;
  std::vector<uint32_t> cleaned;  // WAN ids
};

void FollowAll(const std::string& name, const std::vector<Look>& looks,
               Mwan3Settings settings = {}) {
  Mwan3Memory memory;
  for (size_t i = 0; i < looks.size(); ++i) {
    const Mwan3Follow out = FollowMwan3(looks[i].view, settings, &memory);
    EXPECT_EQ(out.changes, looks[i].changes) << name << ", look " << i;
    std::vector<uint32_t> ids;
    for (const FlowCleanupOrder& order : out.cleanups) {
      ids.push_back(order.id);
      EXPECT_EQ(order.mark, order.id << 8) << name;
      EXPECT_EQ(order.mask, 0x3f00u) << name;
    }
    EXPECT_EQ(ids, looks[i].cleaned) << name << ", look " << i;
  }
}

const char* kPresent =
    "mwan3: not present -> present: its rules are in "
    "the kernel";
const char* kModeB =
    "mwan3: tailscaled's rules: mode none -> B (rule 5210): behind mwan3's "
    "rules, its new flows follow mwan3's policy";
const char* kWanOnline =
    "mwan3: wan (wan0) unknown -> online (mwan3's "
    "iface_state)";
const char* kWanbOnline =
    "mwan3: wanb (wan1) unknown -> online (mwan3's "
    "iface_state)";
const char* kWanOffline =
    "mwan3: wan (wan0) online -> offline (mwan3's "
    "iface_state)";

TEST(Mwan3Follow, ModeBCleansUpOnceWhenAWanGoesOffline) {
  FollowAll("mode B",
            {{View(5200, "online", "online"),
              {kPresent, kModeB, kWanOnline, kWanbOnline},
              {}},
             {View(5200, "offline", "online"), {kWanOffline}, {1}},
             {View(5200, "offline", "online"), {}, {}},  // a rewrite: once only
             {View(5200, "online", "online"),
              {"mwan3: wan (wan0) offline -> online (mwan3's iface_state)"},
              {}},
             {View(5200, "offline\n", "offline\n"),
              {kWanOffline,
               "mwan3: wanb (wan1) online -> offline (mwan3's iface_state)"},
              {1, 2}}});
}

TEST(Mwan3Follow, UnknownIsNeverActedOn) {
  FollowAll("unknown in between",
            {{View(5200, "offline", "online"),
              {kPresent, kModeB,
               "mwan3: wan (wan0) unknown -> offline (mwan3's iface_state)",
               kWanbOnline},
              {1}},  // at our start: offline in mode B
             // caught mid-write (empty), missing, garbage: unknown, no change
             // logged, nothing done
             {View(5200, "\n", "online"), {}, {}},
             {View(5200, "", "online"), {}, {}},
             {View(5200, "offl", "online"), {}, {}},
             // back to offline: it never left offline as far as we know
             {View(5200, "offline", "online"), {}, {}}});
}

TEST(Mwan3Follow, ModeAAndCleanupOffDoNoCleanup) {
  FollowAll(
      "mode A",
      {{View(1300, "online", "online"),
        {kPresent,
         "mwan3: tailscaled's rules: mode none -> A (rule 1310): its traffic "
         "goes by the main table, before mwan3's rules",
         kWanOnline, kWanbOnline},
        {}},
       {View(1300, "offline", "online"), {kWanOffline}, {}}});
  Mwan3Settings off;
  off.flow_cleanup = false;
  FollowAll("cleanup off",
            {{View(5200, "online", "online"),
              {kPresent, kModeB, kWanOnline, kWanbOnline},
              {}},
             {View(5200, "offline", "online"), {kWanOffline}, {}}},
            off);
}

TEST(Mwan3Follow, ModeBBeginningWithAWanOfflineCleansItUp) {
  // tailscaled restarted into mode B while wan was already offline (or its
  // rules moved from A to B).
  FollowAll(
      "A -> B",
      {{View(1300, "offline", "online"),
        {kPresent,
         "mwan3: tailscaled's rules: mode none -> A (rule 1310): its traffic "
         "goes by the main table, before mwan3's rules",
         "mwan3: wan (wan0) unknown -> offline (mwan3's iface_state)",
         kWanbOnline},
        {}},
       {View(5200, "offline", "online"),
        {"mwan3: tailscaled's rules: mode A (rule 1310) -> B (rule 5210): "
         "behind mwan3's rules, its new flows follow mwan3's policy"},
        {1}}});
}

TEST(Mwan3Follow, PresenceComesAndGoes) {
  FollowAll("no mwan3", {{View(0, "", "", false), {}, {}}});
  FollowAll("tailscaled's rules at 5210 without mwan3: nothing to say",
            {{View(5200, "", "", false), {}, {}}});
  FollowAll("mwan3 starts after us, then stops",
            {{View(5200, "", "", false), {}, {}},
             {View(5200, "online", "online"),
              {kPresent, kModeB, kWanOnline, kWanbOnline},
              {}},
             {View(5200, "", "", false),
              {"mwan3: present -> not present: its rules are gone"},
              {}}});
}

TEST(Mwan3Follow, SteeringWaitsOnAnUnknownWanWithRules) {
  struct Case {
    const char* name;
    Mwan3View view;
    Mwan3Settings settings;
    bool hold;
  };
  Mwan3Settings off;
  off.steering = false;
  const Case cases[] = {
      {"both known", View(1300, "offline", "online"), {}, false},
      {"wan unknown (mid-write)", View(1300, "", "online"), {}, true},
      {"wanb unreadable", View(1300, "offline", "onl"), {}, true},
      {"steering off: removing ours is fine", View(1300, "", "online"), off,
       false},
      {"mode B: nothing of ours to hold", View(5200, "", "online"), {}, false},
      {"no mwan3 rules", View(1300, "", "", false), {}, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SteeringHold(c.view, Family::kV4, c.settings).has_value(), c.hold)
        << c.name;
    EXPECT_FALSE(SteeringHold(c.view, Family::kV6, c.settings)) << c.name;
  }
  EXPECT_EQ(*SteeringHold(View(1300, "", "online"), Family::kV4, {}),
            "wan (wan0)'s state is unknown (its iface_state is missing, "
            "unreadable or being written): steering stays as it is");
}

TEST(Mwan3Follow, CleanupReportSaysWhatItDid) {
  FlowCleanupReport r;
  r.order = {"wan (wan0)", 1, 0x100, 0x3f00, "wan (wan0) went offline"};
  r.sockets = 4;
  r.matched = 3;
  r.deleted = 3;
  r.tcp_on_dead_wan = {{{*IpAddress::Parse("198.51.100.2"), 41234},
                        {*IpAddress::Parse("192.0.2.100"), 80}}};
  EXPECT_EQ(r.Describe(),
            "deleted 3 conntrack entries of tailscaled's flows (4 sockets) "
            "with wan (wan0)'s mark 0x100/0x3f00; its TCP connections on it "
            "(dead now, their next packets leave by another WAN with another "
            "address): 198.51.100.2:41234 -> 192.0.2.100:80");
  r.deleted = 2;
  r.tcp_on_dead_wan.clear();
  EXPECT_EQ(r.Describe(),
            "deleted 2 of 3 conntrack entries of tailscaled's flows (4 "
            "sockets) with wan (wan0)'s mark 0x100/0x3f00");
  r.dry_run = true;
  r.deleted = 0;
  EXPECT_EQ(r.Describe(),
            "would delete 3 conntrack entries of tailscaled's flows (4 "
            "sockets) with wan (wan0)'s mark 0x100/0x3f00");
  r.error = "conntrack: dump: Operation not permitted";
  EXPECT_EQ(r.Describe(),
            "cleanup for wan (wan0) failed: conntrack: dump: Operation not "
            "permitted");
}

// Mode A before mwan3 decides: a new control connection would take the
// same WAN, so the diagnosis waits for mwan3 (kHandling) instead of `start`.
TEST(Mwan3Follow, ModeAWithoutSteeringYetIsAWaitForMwan3) {
  Mwan3Status status;
  status.view.rules.mode = TailscaleRuleMode::kA;
  const std::optional<Finding> wait = ModeAWaitFinding(status);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->kind, Finding::Kind::kHandling);
  EXPECT_EQ(wait->source, "mwan3");
  status.steering.push_back(SteeringRoute{});  // steered: its own finding
  EXPECT_FALSE(ModeAWaitFinding(status).has_value());
  status.steering.clear();
  status.settings.steering = false;  // nothing would move it: no wait
  EXPECT_FALSE(ModeAWaitFinding(status).has_value());
  status.settings.steering = true;
  status.view.rules.mode = TailscaleRuleMode::kB;
  EXPECT_FALSE(ModeAWaitFinding(status).has_value());
}

netlink::SocketEndpoint At(const char* address, uint16_t port) {
  return {*IpAddress::Parse(address), port};
}

// tailscaled's TCP connections on wan when it went offline (by port).
const MovedConnection kControl{At("198.51.100.2", 41234), At("192.0.2.100", 80),
                               ConnectionKind::kControl};
const MovedConnection kDerp{At("198.51.100.2", 41300), At("192.0.2.101", 443),
                            ConnectionKind::kDerp};
const MovedConnection kOther{At("198.51.100.2", 41400), At("192.0.2.102", 8443),
                             ConnectionKind::kOther};

TEST(Mwan3Follow, FindingsFromTheConnectionsStillOnTheDeadWan) {
  FlowCleanupReport report;
  report.order = {"wan (wan0)", 1, 0x100, 0x3f00, "wan (wan0) went offline"};
  const std::string context =
      "wan (wan0) is offline per mwan3 (tailscaled in mode B); ";
  const std::string gone =
      " carried its mark 0x100: its conntrack entry is gone, its next packets "
      "leave by another WAN with another address, which the far side drops "
      "or resets";
  const std::string control =
      "its control connection 198.51.100.2:41234 -> 192.0.2.100:80";
  const std::string derp =
      "its DERP connection 198.51.100.2:41300 -> 192.0.2.101:443";
  // The last connection check's word on a connection beats its port.
  JudgedConnection judged_derp;
  judged_derp.kind = ConnectionKind::kDerp;
  judged_derp.local = kOther.local;
  judged_derp.remote = kOther.remote;
  struct Case {
    const char* name;
    std::vector<MovedConnection> still_there;
    std::vector<JudgedConnection> judged;
    bool dry_run;
    std::vector<Finding> want;
  };
  using Kind = Finding::Kind;
  const std::vector<Case> cases = {
      {"none left: no finding", {}, {}, false, {}},
      {"control and DERP",
       {kControl, kDerp},
       {},
       false,
       {{Kind::kControlPathDead, "mwan3", context + control + gone},
        {Kind::kDerpPathDead, "mwan3", context + derp + gone}}},
      {"DERP only: the control connection was replaced",
       {kDerp},
       {},
       false,
       {{Kind::kDerpPathDead, "mwan3", context + derp + gone}}},
      {"another connection says nothing", {kOther}, {}, false, {}},
      {"judged DERP by the connection check",
       {kOther},
       {judged_derp},
       false,
       {{Kind::kDerpPathDead, "mwan3",
         context +
             "its DERP connection 198.51.100.2:41400 -> 192.0.2.102:8443" +
             gone}}},
      {"dry run: the entry was left",
       {kControl},
       {},
       true,
       {{Kind::kControlPathDead, "mwan3",
         context + control +
             " carried its mark 0x100: dead with that WAN (dry run: its "
             "entry was left)"}}},
  };
  for (const Case& c : cases) {
    report.dry_run = c.dry_run;
    EXPECT_EQ(FlowCleanupFindings(report, c.still_there, c.judged), c.want)
        << c.name;
  }
}

TEST(Mwan3Follow, StillEstablishedMatchesByEndpoints) {
  const std::vector<MovedConnection> moved = {kControl, kDerp};
  MovedConnection same_endpoints = kDerp;
  same_endpoints.kind = ConnectionKind::kOther;  // the kind does not matter
  MovedConnection redialed = kControl;
  redialed.local.port = 50000;  // a new connection to the same server
  struct Case {
    const char* name;
    std::vector<MovedConnection> established;
    std::vector<MovedConnection> want;
  };
  const std::vector<Case> cases = {
      {"all there", {kDerp, kControl, kOther}, {kControl, kDerp}},
      {"none there", {}, {}},
      {"control redialed from another port", {redialed, kDerp}, {kDerp}},
      {"by endpoints", {same_endpoints}, {kDerp}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StillEstablished(moved, c.established), c.want) << c.name;
  }
}

TEST(Mwan3Follow, OnlyEstablishedConnectionsAreDeadAfterTheCleanup) {
  MovedConnection dialing = kControl;  // `start`'s new dial, in SYN-SENT
  dialing.local.port = 50744;
  dialing.established = false;
  const std::vector<MovedConnection> matched = {kControl, dialing, kDerp};
  EXPECT_EQ(DeadAfterCleanup(matched),
            (std::vector<MovedConnection>{kControl, kDerp}));
  // So no finding calls it dead once it has connected over the live WAN.
  FlowCleanupReport report;
  report.order.wan = "wan (wan0)";
  report.order.mark = 0x100;
  const std::vector<MovedConnection> dialed_only = {dialing};
  EXPECT_TRUE(
      FlowCleanupFindings(report, DeadAfterCleanup(dialed_only), {}).empty());
}

TEST(Mwan3Follow, SteeringFindingIsHandling) {
  const Finding f = SteeringFinding("added default via 203.0.113.1 dev wan1");
  EXPECT_EQ(f.kind, Finding::Kind::kHandling);
  EXPECT_EQ(f.source, "mwan3");
  EXPECT_EQ(f.evidence,
            "steering added default via 203.0.113.1 dev wan1; tailscaled's "
            "default route interface moved, its netmon redials by itself");
}

}  // namespace
}  // namespace watchdog
