// The conntrack step's pure parts: which uplink sources are old, which
// entries are bound to them, and the step's verdict and log lines.
#include "netlink/conntrack.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include "watchdog/daemon/conntrack_step.h"

namespace netlink {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

Egress Usable(const char* dev, const char* src) {
  Egress e;
  e.present = true;
  e.dev = dev;
  e.source = Ip(src);
  e.link_up = e.carrier = e.source_usable = true;
  return e;
}

UplinkView View(Egress v4, Egress v6 = {}) { return UplinkView{v4, v6}; }

const Egress kWan0 = Usable("wan0", "198.51.100.2");
const Egress kWan1 = Usable("wan1", "203.0.113.2");
const Egress kWan0V6 = Usable("wan0", "2001:db8:a::2");
const Egress kWan1V6 = Usable("wan1", "2001:db8:b::2");

std::vector<OldSource> Old(std::initializer_list<OldSource> list) {
  return list;
}

TEST(OldSources, NothingIsOldBeforeTheSourceChanges) {
  OldSources sources;
  sources.Observe(View(kWan0, kWan0V6));
  sources.Observe(View(kWan0, kWan0V6));
  EXPECT_TRUE(sources.old().empty());
}

TEST(OldSources, FailoverMakesTheEarlierSourcesOldInBothFamilies) {
  OldSources sources;
  sources.Observe(View(kWan0, kWan0V6));
  sources.Observe(View(kWan1, kWan1V6));
  EXPECT_EQ(sources.old(),
            Old({{Ip("2001:db8:a::2"), "wan0"}, {Ip("198.51.100.2"), "wan0"}}));
}

TEST(OldSources, LosingTheUplinkIsNotAChangeOfSource) {
  OldSources sources;
  sources.Observe(View(kWan0));
  Egress dead = kWan0;
  dead.carrier = false;
  sources.Observe(View(dead));  // no-uplink in between
  sources.Observe(View(kWan0));
  EXPECT_TRUE(sources.old().empty());
  sources.Observe(View(dead));
  sources.Observe(View(kWan1));
  EXPECT_EQ(sources.old(), Old({{Ip("198.51.100.2"), "wan0"}}));
}

TEST(OldSources, FailbackMakesTheSourceCurrentAgainNeverOld) {
  OldSources sources;
  sources.Observe(View(kWan0));
  sources.Observe(View(kWan1));
  sources.Observe(View(kWan0));
  EXPECT_EQ(sources.old(), Old({{Ip("203.0.113.2"), "wan1"}}));
  for (const OldSource& o : sources.old()) EXPECT_NE(o.address, *kWan0.source);
}

TEST(OldSources, ForgetWhenHealthy) {
  OldSources sources;
  sources.Observe(View(kWan0));
  sources.Observe(View(kWan1));
  sources.Forget();
  EXPECT_TRUE(sources.old().empty());
  // The current source is still known: the next change makes it old.
  sources.Observe(View(kWan0));
  EXPECT_EQ(sources.old(), Old({{Ip("203.0.113.2"), "wan1"}}));
}

TEST(OldSources, BoundedPerFamilyNewestFirst) {
  OldSources sources;
  sources.Observe(View({}, kWan0V6));
  for (int i = 1; i <= 10; ++i) {
    const std::string src = "198.51.100." + std::to_string(10 + i);
    sources.Observe(View(Usable("ppp0", src.c_str()), kWan0V6));
  }
  sources.Observe(View(kWan1, kWan1V6));
  std::vector<OldSource> v4, v6;
  for (const OldSource& o : sources.old()) {
    (o.address.is_v4() ? v4 : v6).push_back(o);
  }
  ASSERT_EQ(v4.size(), OldSources::kMaxPerFamily);
  EXPECT_EQ(v4.front().address, Ip("198.51.100.20"));  // the last ppp0 lease
  EXPECT_EQ(v4.back().address, Ip("198.51.100.17"));
  EXPECT_EQ(v6, Old({{Ip("2001:db8:a::2"), "wan0"}}));
}

struct MatchCase {
  const char* name;
  ConntrackTuple entry;
  std::optional<size_t> want;
};

TEST(BoundTo, Table) {
  const std::vector<OldSource> old = {{Ip("198.51.100.2"), "wan0"},
                                      {Ip("2001:db8:a::2"), "wan0"}};
  const std::vector<MatchCase> cases = {
      {"router-originated from the old address (tailscaled's UDP socket)",
       {Ip("198.51.100.2"), Ip("192.0.2.10")},
       0},
      {"LAN flow masqueraded to the old address",
       {Ip("192.0.2.66"), Ip("198.51.100.2")},
       0},
      {"IPv6 flow from the old address",
       {Ip("2001:db8:a::2"), Ip("2001:db8:ff::10")},
       1},
      {"IPv6 flow SNATed to the old address",
       {Ip("2001:db8:c::5"), Ip("2001:db8:a::2")},
       1},
      {"flow on the current uplink",
       {Ip("203.0.113.2"), Ip("192.0.2.10")},
       std::nullopt},
      {"LAN flow masqueraded to the current address",
       {Ip("192.0.2.66"), Ip("203.0.113.2")},
       std::nullopt},
      {"inbound to the old address (a port forward, or the router itself): "
       "replies go to the remote peer: kept",
       {Ip("192.0.2.10"), Ip("192.0.2.10")},
       std::nullopt},
      {"a v4-mapped v6 address is not the v4 address",
       {Ip("::ffff:198.51.100.2"), Ip("2001:db8:ff::10")},
       std::nullopt},
      {"entry without addresses", {}, std::nullopt},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(BoundTo(c.entry, old), c.want) << c.name;
  }
  EXPECT_EQ(BoundTo({Ip("198.51.100.2"), Ip("192.0.2.10")}, {}), std::nullopt);
}

}  // namespace
}  // namespace netlink

namespace watchdog {
namespace {

using netlink::ConntrackResult;
using netlink::IpAddress;
using netlink::OldSource;

const std::vector<OldSource> kOld = {
    {*IpAddress::Parse("198.51.100.2"), "wan0"},
    {*IpAddress::Parse("2001:db8:a::2"), "wan0"}};

ConntrackResult Result(std::vector<size_t> matched,
                       std::vector<size_t> deleted) {
  ConntrackResult r;
  r.examined = 5000;
  r.matched = std::move(matched);
  r.deleted = std::move(deleted);
  r.took = std::chrono::microseconds(2500);
  return r;
}

TEST(ConntrackStep, DeletedEntriesAreOkAndLoggedPerAddress) {
  ConntrackStepOutcome out =
      JudgeConntrack(kOld, Result({3, 1}, {3, 1}), false);
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.info, (std::vector<std::string>{
                          "conntrack: deleted 3 entries bound to 198.51.100.2 "
                          "(old uplink wan0)",
                          "conntrack: deleted 1 entry bound to 2001:db8:a::2 "
                          "(old uplink wan0)",
                          "conntrack: examined 5000 entries in 2.5 ms"}));
  EXPECT_TRUE(out.warnings.empty());
}

TEST(ConntrackStep, NothingBoundIsNotOkSoTheLadderMovesOnAtOnce) {
  ConntrackStepOutcome out =
      JudgeConntrack(kOld, Result({0, 0}, {0, 0}), false);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error,
            "nothing to do: no conntrack entry is bound to an old address");
}

TEST(ConntrackStep, NoOldAddressIsNothingToDo) {
  ConntrackStepOutcome out = NothingOld(false);
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("nothing to do"), std::string::npos);
  ASSERT_EQ(out.info.size(), 1u);
  EXPECT_EQ(NothingOld(true).ok, true);
}

TEST(ConntrackStep, DryRunCountsAndIsOk) {
  ConntrackStepOutcome out = JudgeConntrack(kOld, Result({7, 0}, {0, 0}), true);
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.info.front(),
            "dry run: conntrack: would delete 7 entries bound to 198.51.100.2 "
            "(old uplink wan0)");
}

TEST(ConntrackStep, FailuresCarryTheErrorText) {
  ConntrackResult r = Result({2, 0}, {0, 0});
  r.failed = 2;
  r.failure = "conntrack: delete: Operation not permitted";
  ConntrackStepOutcome out = JudgeConntrack(kOld, r, false);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error, r.failure);
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0],
            "conntrack: 2 deletion(s) failed: conntrack: delete: Operation "
            "not permitted");

  r.deleted = {1, 0};  // some deleted, one refused: ok, with a warning
  r.failed = 1;
  out = JudgeConntrack(kOld, r, false);
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.warnings.size(), 1u);
}

TEST(ConntrackStep, AnErrorBeforeTheDumpFailsTheStep) {
  ConntrackResult r = Result({0, 0}, {0, 0});
  r.error = "conntrack: dump: Operation not supported";
  r.truncated = true;
  ConntrackStepOutcome out = JudgeConntrack(kOld, r, false);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error, r.error);
}

TEST(ConntrackStep, TruncatedRunSaysSo) {
  ConntrackResult r = Result({9000, 0}, {8192, 0});
  r.truncated = true;
  ConntrackStepOutcome out = JudgeConntrack(kOld, r, false);
  EXPECT_TRUE(out.ok);
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_NE(out.warnings[0].find("some entries may be left"),
            std::string::npos);
}

}  // namespace
}  // namespace watchdog

// Mode B: tailscaled's flows (from its sockets) with the dead WAN's mark.
namespace netlink {
namespace {

netlink::SocketRecord Sock(uint8_t protocol, const char* local, uint16_t lport,
                           const char* remote, uint16_t rport) {
  netlink::SocketRecord s;
  s.protocol = protocol;
  s.local = {Ip(local), lport};
  s.remote = {Ip(remote), rport};
  return s;
}

ConntrackEntry Entry(uint8_t protocol, const char* src, uint16_t sport,
                     const char* dst, uint16_t dport, uint32_t mark) {
  ConntrackEntry t;
  t.protocol = protocol;
  t.tuple.orig_src = Ip(src);
  t.orig_sport = sport;
  t.orig_dst = Ip(dst);
  t.orig_dport = dport;
  t.mark = mark;
  return t;
}

TEST(ConntrackFlows, FlowsOfSockets) {
  const std::vector<netlink::SocketRecord> sockets = {
      Sock(IPPROTO_UDP, "0.0.0.0", 41641, "0.0.0.0", 0),  // magicsock v4
      Sock(IPPROTO_UDP, "::", 41641, "::", 0),            // magicsock v6
      Sock(IPPROTO_TCP, "198.51.100.2", 41234, "192.0.2.10", 80),
      Sock(IPPROTO_TCP, "198.51.100.2", 41234, "192.0.2.10", 80),  // again
  };
  std::vector<FlowSelector> flows = FlowsOfSockets(sockets);
  // :: is a wildcard like 0.0.0.0: both magicsock sockets are one selector.
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0],
            (FlowSelector{IPPROTO_UDP, std::nullopt, 41641, std::nullopt, 0}));
  EXPECT_EQ(flows[1], (FlowSelector{IPPROTO_TCP, Ip("198.51.100.2"), 41234,
                                    Ip("192.0.2.10"), 80}));
}

TEST(ConntrackFlows, MatchesOnlyTheFlowsWithTheDeadWansMark) {
  const std::vector<FlowSelector> flows = FlowsOfSockets(
      std::vector{Sock(IPPROTO_UDP, "0.0.0.0", 41641, "0.0.0.0", 0),
                  Sock(IPPROTO_TCP, "198.51.100.2", 41234, "192.0.2.10", 80)});
  const CtMarkMatch wan1{0x100, 0x3f00};
  const struct {
    const char* name;
    ConntrackEntry entry;
    bool want;
  } cases[] = {
      {"magicsock to a peer, dead WAN's mark",
       Entry(IPPROTO_UDP, "198.51.100.2", 41641, "192.0.2.77", 41641, 0x100),
       true},
      {"the same with other mark bits set too (tailscaled's 0x80000)",
       Entry(IPPROTO_UDP, "198.51.100.2", 41641, "192.0.2.78", 3478, 0x80100),
       true},
      {"magicsock on the live WAN's mark",
       Entry(IPPROTO_UDP, "203.0.113.2", 41641, "192.0.2.77", 41641, 0x200),
       false},
      {"not yet marked by mwan3",
       Entry(IPPROTO_UDP, "198.51.100.2", 41641, "192.0.2.77", 41641, 0),
       false},
      {"someone else's UDP on the dead WAN",
       Entry(IPPROTO_UDP, "198.51.100.2", 5000, "192.0.2.77", 41641, 0x100),
       false},
      {"TCP to the port magicsock uses for UDP",
       Entry(IPPROTO_TCP, "198.51.100.2", 41641, "192.0.2.77", 80, 0x100),
       false},
      {"the control connection",
       Entry(IPPROTO_TCP, "198.51.100.2", 41234, "192.0.2.10", 80, 0x100),
       true},
      {"the same local port to another server",
       Entry(IPPROTO_TCP, "198.51.100.2", 41234, "192.0.2.11", 80, 0x100),
       false},
      {"the same port from another local address",
       Entry(IPPROTO_TCP, "203.0.113.2", 41234, "192.0.2.10", 80, 0x100),
       false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MatchesFlow(c.entry, flows, wan1), c.want) << c.name;
  }
  EXPECT_FALSE(MatchesFlow(cases[0].entry, {}, wan1));
}

}  // namespace
}  // namespace netlink
