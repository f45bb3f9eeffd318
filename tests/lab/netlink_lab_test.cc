// The uplink tracker on the real kernel, one scenario per test, each in a
// network namespace of its own (see lab.h). Kernel notifications are queued
// on our socket before `ip` gets its acknowledgement, so after Sh() returns
// the events are already there: no waiting on time.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <string>

#include "netlink/watcher.h"
#include "tests/lab/lab.h"

namespace {

using netlink::Family;
using netlink::UplinkChange;
using netlink::Watcher;

// Reads everything queued and returns the change, if any. Polls briefly first
// so that a notification still in flight is not missed. For "nothing must
// happen" checks.
std::optional<UplinkChange> Pump(Watcher& watcher) {
  pollfd pfd{watcher.event_fd(), POLLIN, 0};
  poll(&pfd, 1, 200);
  return watcher.HandleReadable();
}

// Waits (up to 5 s) for the next uplink change. Most notifications are queued
// before `ip` returns, but carrier changes go through the kernel's linkwatch,
// which may defer them by up to a second.
std::optional<UplinkChange> NextChange(Watcher& watcher) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{watcher.event_fd(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    if (auto change = watcher.HandleReadable()) return change;
  }
}

std::string Dev(const netlink::UplinkView& view, Family family) {
  const auto& e = view.Get(family);
  return e.usable() ? e.dev : "-";
}

std::string Src(const netlink::UplinkView& view, Family family) {
  const auto& e = view.Get(family);
  return e.source ? e.source->ToString() : "-";
}

class UplinkLab : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    lab::CreateDualWan();
  }
};

TEST_F(UplinkLab, FailoverByDeletingTheDefaultRoute) {
  LAB_RUN(
      "ip route add default via 198.51.100.1 dev wan0 metric 100\n"
      "ip route add default via 203.0.113.1 dev wan1 metric 200");
  Watcher watcher;
  EXPECT_EQ(Dev(watcher.view(), Family::kV4), "wan0");
  EXPECT_EQ(watcher.view().v4.gateway->ToString(), "198.51.100.1");
  EXPECT_EQ(Src(watcher.view(), Family::kV4), "198.51.100.2");

  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(),
            "v4:device-changed,v4:gateway-changed,v4:source-changed");
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan1");
  EXPECT_EQ(change->new_view.v4.gateway->ToString(), "203.0.113.1");
  EXPECT_EQ(Src(change->new_view, Family::kV4), "203.0.113.2");
  EXPECT_EQ(Dev(change->old_view, Family::kV4), "wan0");
}

TEST_F(UplinkLab, FailoverByChangingOnlyMetrics) {
  LAB_RUN(
      "ip route add default via 198.51.100.1 dev wan0 metric 100\n"
      "ip route add default via 203.0.113.1 dev wan1 metric 200");
  Watcher watcher;
  ASSERT_EQ(Dev(watcher.view(), Family::kV4), "wan0");
  // The same two routes, wan0's now with the worse metric.
  LAB_RUN(
      "ip route add default via 198.51.100.1 dev wan0 metric 300\n"
      "ip route del default via 198.51.100.1 dev wan0 metric 100");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan1");
  EXPECT_EQ(change->ReasonsString(),
            "v4:device-changed,v4:gateway-changed,v4:source-changed");
}

TEST_F(UplinkLab, PolicyRoutingFailoverWithMainTableUnchanged) {
  // mwan3-style: tailscaled's marked traffic is steered by a rule into a
  // per-WAN table; the main table keeps pointing at wan0 throughout.
  LAB_RUN(
      "ip route add default via 198.51.100.1 dev wan0\n"
      "ip route add default via 198.51.100.1 dev wan0 table 1\n"
      "ip route add default via 203.0.113.1 dev wan1 table 2\n"
      "ip rule add fwmark 0x80000/0xff0000 lookup 1 pref 1001");
  Watcher watcher;
  ASSERT_EQ(Dev(watcher.view(), Family::kV4), "wan0");
  EXPECT_EQ(watcher.view().v4.table, 1u);

  LAB_RUN("ip rule add fwmark 0x80000/0xff0000 lookup 2 pref 1000");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan1");
  EXPECT_EQ(change->new_view.v4.table, 2u);
  EXPECT_EQ(change->ReasonsString(),
            "v4:device-changed,v4:gateway-changed,v4:source-changed");
}

TEST_F(UplinkLab, SplitDefaultRoutesViaAnotherDevice) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  Watcher watcher;
  ASSERT_EQ(Dev(watcher.view(), Family::kV4), "wan0");
  // What OpenVPN's def1 and many VPN clients do: two /1s beat the /0.
  LAB_RUN(
      "ip route add 0.0.0.0/1 via 203.0.113.1 dev wan1\n"
      "ip route add 128.0.0.0/1 via 203.0.113.1 dev wan1");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan1");
}

TEST_F(UplinkLab, CarrierLossOnTheUplink) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  Watcher watcher;
  ASSERT_TRUE(watcher.view().v4.usable());
  LAB_RUN(
      "ip link set isp0 down");  // the far end goes away: wan0 loses carrier
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(), "v4:uplink-lost,v4:carrier-changed");
  EXPECT_FALSE(change->new_view.v4.usable());
  EXPECT_FALSE(change->new_view.v4.carrier);
  EXPECT_EQ(change->new_view.v4.dev, "wan0");

  LAB_RUN("ip link set isp0 up");
  change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(), "v4:uplink-appeared,v4:carrier-changed");
}

TEST_F(UplinkLab, NewDhcpLeaseOnTheSameDevice) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  Watcher watcher;
  ASSERT_EQ(Src(watcher.view(), Family::kV4), "198.51.100.2");
  // What a DHCP client does on a new lease: flush, add, route again.
  LAB_RUN(
      "ip -4 addr flush dev wan0\n"
      "ip addr add 198.51.100.77/24 dev wan0\n"
      "ip route add default via 198.51.100.1 dev wan0");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(), "v4:source-changed");
  EXPECT_EQ(Src(change->new_view, Family::kV4), "198.51.100.77");
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan0");
}

TEST_F(UplinkLab, LateInterfaceAtBoot) {
  LAB_RUN("ip link set wan0 down\nip link set wan1 down");
  Watcher watcher;
  EXPECT_FALSE(watcher.view().v4.usable());
  EXPECT_FALSE(watcher.view().v6.usable());
  EXPECT_FALSE(watcher.view().AnyUsable());

  // The interface comes up, and once it has a carrier (a DHCP client gets
  // no lease before), the default route. The carrier comes through linkwatch,
  // later than `ip` returns: on a loaded machine after the route, and then in
  // the same change ("v4:carrier-changed"), had we not waited for it.
  LAB_RUN("ip link set wan0 up\n" +
          lab::ShellWaitUntil("ip link show dev wan0 | grep -q LOWER_UP") +
          "ip route add default via 198.51.100.1 dev wan0");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(), "v4:uplink-appeared");
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan0");
}

TEST_F(UplinkLab, Ipv6OnlyFailover) {
  LAB_RUN(
      "ip -4 addr flush dev wan0\nip -4 addr flush dev wan1\n"
      "ip -6 route add default via 2001:db8:a::1 dev wan0 metric 100\n"
      "ip -6 route add default via 2001:db8:b::1 dev wan1 metric 200");
  Watcher watcher;
  EXPECT_FALSE(watcher.view().v4.present);
  ASSERT_EQ(Dev(watcher.view(), Family::kV6), "wan0");
  EXPECT_EQ(Src(watcher.view(), Family::kV6), "2001:db8:a::2");

  LAB_RUN("ip -6 route del default via 2001:db8:a::1 dev wan0 metric 100");
  auto change = NextChange(watcher);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->ReasonsString(),
            "v6:device-changed,v6:gateway-changed,v6:source-changed");
  EXPECT_EQ(Dev(change->new_view, Family::kV6), "wan1");
  EXPECT_EQ(change->new_view.v6.gateway->ToString(), "2001:db8:b::1");
  EXPECT_EQ(Src(change->new_view, Family::kV6), "2001:db8:b::2");
  EXPECT_FALSE(change->new_view.v4.present);
}

TEST_F(UplinkLab, TentativeIpv6SourceIsNotUsableUntilDadCompletes) {
  LAB_RUN(
      "ip -4 addr flush dev wan0\n"
      "ip -6 addr flush dev wan0 scope global\n"
      "ip -6 addr flush dev wan1 scope global\n"
      "sysctl -qw net.ipv6.conf.wan0.accept_dad=1\n"
      "ip -6 route add default via 2001:db8:a::1 dev wan0 onlink");
  Watcher watcher;
  EXPECT_FALSE(watcher.view().v6.usable());
  // Duplicate address detection keeps the address tentative for about a
  // second; the uplink appears when the kernel clears the flag.
  LAB_RUN("ip -6 addr add 2001:db8:a::9/64 dev wan0");
  std::optional<UplinkChange> appeared;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!appeared && std::chrono::steady_clock::now() < deadline) {
    auto change = NextChange(watcher);
    if (change && change->new_view.v6.usable()) appeared = change;
  }
  ASSERT_TRUE(appeared) << "DAD never completed";
  EXPECT_EQ(Src(appeared->new_view, Family::kV6), "2001:db8:a::9");
}

TEST_F(UplinkLab, TailscaledsOwnChangesProduceNoEvent) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  Watcher watcher;
  const auto hints_before = watcher.stats().hints;
  // What tailscaled does when it comes up: its tun, its addresses, table 52
  // and its rules (the bypass rule looks up main for marked packets).
  LAB_RUN(
      "ip tuntap add dev tailscale0 mode tun\n"
      "ip link set tailscale0 up\n"
      "ip addr add 100.101.102.103/32 dev tailscale0\n"
      "ip -6 addr add fd7a:115c:a1e0::1/128 dev tailscale0\n"
      "ip route add 100.64.0.0/10 dev tailscale0 table 52\n"
      "ip route add default dev tailscale0 table 52\n"
      "ip rule add fwmark 0x80000/0xff0000 lookup main pref 5210\n"
      "ip rule add lookup 52 pref 5270\n"
      "ip link set tailscale0 down\n"
      "ip link set tailscale0 up\n"
      "ip route replace 100.64.0.0/10 dev tailscale0 table 52");
  EXPECT_FALSE(Pump(watcher)) << "tailscaled's own changes moved our uplink";
  EXPECT_EQ(Dev(watcher.view(), Family::kV4), "wan0");
  // Only the main-table bypass rule counted as a hint; the rest was ignored
  // before any re-resolution.
  EXPECT_LE(watcher.stats().hints - hints_before, 1u);
  EXPECT_GE(watcher.stats().messages, 8u);
}

TEST_F(UplinkLab, BurstOfHundredChangesIsOneEventWithTheFinalState) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  Watcher watcher;
  const auto resolves_before = watcher.stats().resolves;
  std::string batch;
  for (int i = 0; i < 100; ++i) {
    batch += (i % 2 == 0) ? "route replace default via 203.0.113.1 dev wan1\n"
                          : "route replace default via 198.51.100.1 dev wan0\n";
  }
  batch += "route replace default via 203.0.113.1 dev wan1\n";  // ends on wan1
  LAB_RUN("ip -batch - <<'EOF'\n" + batch + "EOF");
  auto change = watcher.HandleReadable();  // everything is queued already
  ASSERT_TRUE(change);
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan1");
  EXPECT_EQ(change->ReasonsString(),
            "v4:device-changed,v4:gateway-changed,v4:source-changed");
  EXPECT_EQ(watcher.stats().resolves - resolves_before, 1u);
  EXPECT_GE(watcher.stats().datagrams, 101u);
  EXPECT_FALSE(watcher.HandleReadable());
}

TEST_F(UplinkLab, ForcedOverrunEndsInTheRightState) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  netlink::WatcherOptions options;
  options.receive_buffer = 1024;  // the kernel's minimum, a few messages
  Watcher watcher(options);
  const int small_buffer = watcher.stats().receive_buffer;
  std::string batch;
  for (int i = 0; i < 300; ++i) {
    batch +=
        "route replace default via " +
        std::string(i % 2 ? "198.51.100.1 dev wan0" : "203.0.113.1 dev wan1") +
        "\n";
    batch += "addr replace 198.51.100." + std::to_string(10 + i % 200) +
             "/32 dev wan0\n";
  }
  batch += "route replace default via 203.0.113.1 dev wan1\n";
  LAB_RUN("ip -batch - <<'EOF'\n" + batch + "EOF");
  auto change = NextChange(watcher);
  EXPECT_GE(watcher.stats().overruns, 1u);
  EXPECT_GE(watcher.stats().resyncs, 1u);
  EXPECT_GT(watcher.stats().receive_buffer, small_buffer);
  ASSERT_TRUE(change);
  EXPECT_EQ(Dev(change->new_view, Family::kV4), "wan1");
  // The model was rebuilt from the dump: it knows the addresses added during
  // the overrun.
  int wan0 = 0;
  for (const auto& [index, link] : watcher.model().links()) {
    if (link.name == "wan0") wan0 = index;
  }
  EXPECT_NE(watcher.model().FindAddress(
                wan0, *netlink::IpAddress::Parse("198.51.100.209")),
            nullptr);
}

TEST_F(UplinkLab, KernelFilterDropsLongPrefixChurn) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  for (bool filtered : {true, false}) {
    netlink::WatcherOptions options;
    options.kernel_route_filter = filtered;
    Watcher watcher(options);
    std::string batch;
    // What a routing daemon's table looks like: many long prefixes.
    for (int i = 0; i < 500; ++i) {
      batch += "route " + std::string(filtered ? "add" : "del") +
               " 2001:db8:1:" + std::to_string(i) +
               "::/64 via 2001:db8:a::1 dev wan0\n";
    }
    LAB_RUN("ip -batch - <<'EOF'\n" + batch + "EOF");
    EXPECT_FALSE(watcher.HandleReadable());
    if (filtered) {
      EXPECT_EQ(watcher.stats().datagrams, 0u) << "long prefixes woke us";
    } else {
      EXPECT_GE(watcher.stats().datagrams, 500u);
    }
    // A default-route change still gets through the filter.
    LAB_RUN(std::string("ip route replace default via ") +
            (filtered ? "203.0.113.1 dev wan1" : "198.51.100.1 dev wan0"));
    auto change = NextChange(watcher);
    ASSERT_TRUE(change);
  }
}

}  // namespace
