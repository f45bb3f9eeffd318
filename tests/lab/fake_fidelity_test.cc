// The fake tailscaled's own fidelity in network mode, on the real kernel:
// its health comes from real TCP connections (SO_MARK, keep-alive) to the
// servers of `fake_tailscaled internet`, and it heals only the way
// tailscaled heals (docs/tailscaled-behaviour.md). Time scale 0.05: the 120 s
// watchdogs are 6 s, keep-alives 2.5-2.9 s (control) and 3-3.25 s (DERP),
// not-in-map-poll becomes visible 24 s after it is armed.
//
// Fixed waits appear only where the scenario is "nothing may happen for
// this long"; everything else waits for a condition with a deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_tailscaled_process.h"
#include "tests/lab/lab.h"
#include "tests/lab/two_uplinks.h"

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr double kFidelityScale = 0.05;
constexpr auto kWatchdog = milliseconds(120000 / 20);  // x 0.05

// One HTTP exchange on the LocalAPI socket (Connection: close); the body,
// de-chunked.
std::string Http(const std::string& socket, const std::string& method,
                 const std::string& target, const std::string& body = "") {
  netlink::UniqueFd fd = fake::ConnectUnixSocket(socket);
  if (!fd) return "";
  const std::string request =
      method + " " + target +
      " HTTP/1.1\r\nHost: local-tailscaled.sock\r\nConnection: close\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::write(fd.get(), request.data(), request.size()) < 0) return "";
  std::string reply;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) {
    reply.append(buf, static_cast<size_t>(n));
  }
  const size_t head = reply.find("\r\n\r\n");
  if (head == std::string::npos) return "";
  std::string raw = reply.substr(head + 4);
  if (reply.substr(0, head).find("chunked") == std::string::npos) return raw;
  std::string out;
  for (size_t pos = 0;;) {
    const size_t eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const size_t size = std::strtoul(raw.c_str() + pos, nullptr, 16);
    if (size == 0) break;
    out += raw.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

// The IPN bus, read as it arrives.
class BusWatch {
 public:
  explicit BusWatch(const std::string& socket)
      : fd_(fake::ConnectUnixSocket(socket)) {
    const std::string request =
        "GET /localapi/v0/watch-ipn-bus?mask=146 HTTP/1.1\r\n"
        "Host: local-tailscaled.sock\r\n\r\n";
    if (!fd_ || ::write(fd_.get(), request.data(), request.size()) < 0) {
      throw std::runtime_error("cannot watch the bus");
    }
  }
  // Reads what has arrived; returns the Notify lines so far.
  const std::vector<json>& Lines() {
    char buf[65536];
    for (;;) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
      const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n <= 0) break;
      raw_.append(buf, static_cast<size_t>(n));
    }
    // Chunk boundaries aside, every Notify is one line starting with "{".
    for (size_t nl; (nl = raw_.find('\n')) != std::string::npos;) {
      std::string line = raw_.substr(0, nl);
      raw_.erase(0, nl + 1);
      if (line.empty() || line[0] != '{') continue;
      json parsed = json::parse(line, nullptr, false);
      if (!parsed.is_discarded()) lines_.push_back(parsed);
    }
    return lines_;
  }

 private:
  netlink::UniqueFd fd_;
  std::string raw_;
  std::vector<json> lines_;
};

class FakeFidelity : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    if (lab::Sh("command -v nft nsenter >/dev/null") != 0) {
      GTEST_SKIP() << "needs nftables and nsenter";
    }
    lab_ = std::make_unique<lab::TwoUplinks>(kFidelityScale);
  }

  void StartFake(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = lab_->FakeArgs();
    args.insert(args.end(), extra.begin(), extra.end());
    fake_ = std::make_unique<fake::FakeTailscaledProcess>(args);
    ASSERT_FALSE(fake_->WaitForEvent("state", {{"to", "Running"}}).is_null())
        << "the fake never reached Running";
  }

  json Status() const {
    return json::parse(Http(fake_->socket_path(), "GET", "/localapi/v0/status"),
                       nullptr, false);
  }
  bool SelfOnline() const {
    const json s = Status();
    return s.is_object() && s["Self"]["Online"] == true;
  }
  json Control() const { return fake_->Get()["network"]["control"]; }
  json Derp() const { return fake_->Get()["network"]["derp"]; }
  void Post(const std::string& target, const std::string& body = "") const {
    Http(fake_->socket_path(), "POST", target, body);
  }
  void Reup() const {
    Http(fake_->socket_path(), "PATCH", "/localapi/v0/prefs",
         R"({"WantRunning":false,"WantRunningSet":true})");
    Http(fake_->socket_path(), "PATCH", "/localapi/v0/prefs",
         R"({"WantRunning":true,"WantRunningSet":true})");
  }
  // The mwan3 way: tailscaled's marked traffic goes to wan1 by a rule,
  // which netmon does not watch; the main table stays on wan0.
  void PolicyFailoverToWan1() const {
    LAB_RUN(
        "ip route add default via 203.0.113.1 dev wan1 table 100\n"
        "ip rule add fwmark 0x80000/0xff0000 lookup 100 pref 1000");
  }

  std::unique_ptr<lab::TwoUplinks> lab_;
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
};

// A silent path death: Self.Online stays true until the map poll's 120 s
// watchdog fires (6 s here), shows only in GET status, never on the bus;
// not-in-map-poll arrives on the bus 8 minutes (24 s here) after it is
// armed, which is at least 10 s (0.5 s) after the poll ended.
TEST_F(FakeFidelity, OnlineLagsASilentPathDeathAndNeverReachesTheBus) {
  StartFake();
  ASSERT_TRUE(SelfOnline());
  BusWatch bus(fake_->socket_path());
  ASSERT_TRUE(fake::WaitUntil([&] { return !bus.Lines().empty(); }));
  const size_t events = fake_->EventCount();
  const auto died = Clock::now();
  lab_->KillPath("wan0");
  ASSERT_TRUE(fake::WaitUntil([&] { return !SelfOnline(); }, seconds(15)));
  const auto offline_after = Clock::now() - died;
  // At most one keep-alive interval (2.9 s) of the watchdog had run out.
  EXPECT_GE(offline_after, kWatchdog - milliseconds(2900));
  EXPECT_LE(offline_after, kWatchdog + seconds(2));
  json ended =
      fake_->WaitForEvent("online", {{"value", false}}, seconds(1), events);
  ASSERT_FALSE(ended.is_null());
  EXPECT_EQ(ended["why"], "watchdog");
  for (const json& line : bus.Lines()) {
    EXPECT_FALSE(line.dump().find("\"Online\"") != std::string::npos) << line;
  }
  // The connection is kept: the retry wrote on it (it is still there).
  EXPECT_EQ(Control()["local"].get<std::string>().rfind("198.51.100.2:", 0),
            0u);
  const auto poll_ended = Clock::now();
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        for (const json& line : bus.Lines()) {
          if (line["Health"].is_object() &&
              line["Health"]["Warnings"].contains("not-in-map-poll")) {
            return true;
          }
        }
        return false;
      },
      seconds(45)));
  const auto visible_after = Clock::now() - poll_ended;
  EXPECT_GE(visible_after, seconds(24)) << "8 min x 0.05";
  // Armed at the next self-check >= 0.5 s later (1-minute timer: 3 s).
  EXPECT_LE(visible_after, seconds(24 + 4 + 3));
  EXPECT_FALSE(SelfOnline());
}

// After a silent failover the fake's DERP redials by itself over the new
// path; rebind and reup never bring control back (the dead connection is
// kept), start does, and so does a restart.
TEST_F(FakeFidelity, OnlyStartOrRestartReplaceADeadControlConnection) {
  StartFake();
  lab_->KillPath("wan0");
  PolicyFailoverToWan1();
  ASSERT_TRUE(fake::WaitUntil([&] { return !SelfOnline(); }, seconds(15)));
  // DERP's read deadline (6 s) ends it; the redial follows the route.
  ASSERT_FALSE(fake_
                   ->WaitForEvent("derp-connected",
                                  {{"remote", "192.0.2.20:443"}}, seconds(15),
                                  1)
                   .is_null());
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        return Derp()["connected"] == true &&
               Derp()["local"].get<std::string>().rfind("203.0.113.2:", 0) == 0;
      },
      seconds(15)));
  const std::string dead = Control()["local"];
  ASSERT_EQ(dead.rfind("198.51.100.2:", 0), 0u) << dead;

  Post("/localapi/v0/debug?action=rebind");
  Post("/localapi/v0/debug?action=restun");
  Reup();
  // Longer than a keep-alive interval and the retry backoff: nothing.
  std::this_thread::sleep_for(seconds(4));
  EXPECT_FALSE(SelfOnline());
  EXPECT_EQ(Control()["local"], dead) << "rebind/restun/reup replaced control";

  Post("/localapi/v0/start", "{}");
  ASSERT_TRUE(fake::WaitUntil([&] { return SelfOnline(); }, seconds(5)));
  EXPECT_EQ(Control()["local"].get<std::string>().rfind("203.0.113.2:", 0), 0u);
  EXPECT_EQ(Status()["BackendState"], "Running");

  // A restart redials everything.
  const std::string control = Control()["local"], derp = Derp()["local"];
  fake_->Signal(SIGHUP);
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        const json c = Control(), d = Derp();
        return c["in_poll"] == true && d["connected"] == true &&
               c["local"] != control && d["local"] != derp;
      },
      seconds(10)));
  EXPECT_EQ(fake_->Get()["restarts"], 1);
}

// netmon: a default-route interface change closes the control connection
// (tsdial) and it redials at once, well before any watchdog.
TEST_F(FakeFidelity, NetmonRedialsOnADefaultRouteInterfaceChange) {
  StartFake();
  const size_t events = fake_->EventCount();
  lab_->KillPath("wan0");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  const json closed =
      fake_->WaitForEvent("control-closed", {}, seconds(3), events);
  ASSERT_FALSE(closed.is_null());
  EXPECT_NE(closed["why"].get<std::string>().find("tsdial"), std::string::npos)
      << closed;
  EXPECT_FALSE(fake_->WaitForEvent("netmon", {}, seconds(1), events).is_null());
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        const json c = Control();
        return c["in_poll"] == true &&
               c["local"].get<std::string>().rfind("203.0.113.2:", 0) == 0;
      },
      kWatchdog - seconds(1)));
  // magicsock's rebind on the major change moved DERP too.
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        return Derp()["connected"] == true &&
               Derp()["local"].get<std::string>().rfind("203.0.113.2:", 0) == 0;
      },
      seconds(5)));
}

// netmon: the control connection's local address disappears (a DHCP or
// PPPoE renumbering on the same device): closed and redialed.
TEST_F(FakeFidelity, NetmonRedialsWhenTheLocalAddressDisappears) {
  StartFake();
  const size_t events = fake_->EventCount();
  LAB_RUN(
      // The new address takes over the subnet: the default stays on wan0.
      "sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1\n"
      "ip addr add 198.51.100.3/24 dev wan0\n"
      "ip addr del 198.51.100.2/24 dev wan0\n"
      "ip route show default | grep -q 'dev wan0'");
  const json closed =
      fake_->WaitForEvent("control-closed", {}, seconds(3), events);
  ASSERT_FALSE(closed.is_null());
  EXPECT_NE(closed["why"].get<std::string>().find("198.51.100.2 disappeared"),
            std::string::npos)
      << closed;
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        const json c = Control();
        return c["in_poll"] == true &&
               c["local"].get<std::string>().rfind("198.51.100.3:", 0) == 0;
      },
      seconds(5)));
}

// What netmon does not notice, the fake does not notice either: a gateway
// change on the same device and a policy rule (mwan3's kind of change).
TEST_F(FakeFidelity, NetmonIgnoresAGatewayChangeAndPolicyRules) {
  StartFake();
  const std::string control = Control()["local"], derp = Derp()["local"];
  const size_t events = fake_->EventCount();
  LAB_RUN("ip route replace default via 198.51.100.254 dev wan0 metric 100");
  PolicyFailoverToWan1();
  // netmon's debounce is 50 ms here: a whole second is plenty.
  std::this_thread::sleep_for(seconds(1));
  EXPECT_TRUE(
      fake_->WaitForEvent("netmon", {}, milliseconds(0), events).is_null());
  EXPECT_TRUE(fake_->WaitForEvent("control-closed", {}, milliseconds(0), events)
                  .is_null());
  EXPECT_EQ(Control()["local"], control);
  EXPECT_EQ(Derp()["local"], derp);
  // The same wait does see a change netmon does notice.
  LAB_RUN("ip addr add 198.51.100.7/24 dev wan0");
  EXPECT_FALSE(fake_->WaitForEvent("netmon", {}, seconds(1), events).is_null());
}

// tailscaled's sockets as the kernel has them: SO_MARK 0x80000, keep-alive
// on with Go's dialer values scaled (idle 30 s -> 2 s, interval 15 s -> 1 s,
// 9 probes), no TCP_USER_TIMEOUT; sock_diag (ss) agrees.
TEST_F(FakeFidelity, SocketsCarryTheBypassMarkAndKeepAlive) {
  StartFake();
  for (const json& conn : {Control(), Derp()}) {
    const json socket = conn["socket"];
    EXPECT_EQ(socket["mark"], "0x80000") << conn;
    EXPECT_EQ(socket["keepalive"], true) << conn;
    EXPECT_EQ(socket["keepidle_s"], 2) << conn;
    EXPECT_EQ(socket["keepintvl_s"], 1) << conn;
    EXPECT_EQ(socket["keepcnt"], 9) << conn;
    EXPECT_EQ(socket["user_timeout_ms"], 0) << conn;
  }
  FILE* ss = popen("ss -tienH state established 2>/dev/null", "r");
  ASSERT_NE(ss, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, ss)) > 0;) out.append(buf, n);
  pclose(ss);
  for (const std::string peer : {"192.0.2.10:80", "192.0.2.20:443"}) {
    const size_t at = out.find(peer);
    ASSERT_NE(at, std::string::npos) << out;
    const std::string line = out.substr(at, out.find('\n', at) - at);
    EXPECT_NE(line.find("fwmark:0x80000"), std::string::npos) << line;
    EXPECT_NE(line.find("timer:(keepalive"), std::string::npos) << line;
  }
}

// Boot-time route programming failure (tailscaled's "router" warning,
// "network is down"): start does not re-apply the router, reup does.
TEST_F(FakeFidelity, ReupHealsARouteProgrammingFailure) {
  // Down (like a TUN before tailscaled brought it up): routes on it fail.
  LAB_RUN("ip tuntap add dev ts0 mode tun");
  StartFake({"--tun", "ts0"});
  BusWatch bus(fake_->socket_path());
  auto router_warning = [&] {
    const json s = Status();
    for (const auto& text : s["Health"]) {
      if (text.get<std::string>().find("network is down") != std::string::npos)
        return true;
    }
    return false;
  };
  ASSERT_TRUE(fake::WaitUntil(router_warning));
  LAB_RUN("ip link set ts0 up");
  Post("/localapi/v0/start", "{}");
  ASSERT_TRUE(fake::WaitUntil([&] { return SelfOnline(); }));
  EXPECT_TRUE(router_warning()) << "start re-applied the router";
  Reup();
  ASSERT_TRUE(fake::WaitUntil([&] { return !router_warning(); }));
  EXPECT_EQ(lab::Sh("ip route show table 52 | grep -q '100.64.0.0/10 dev ts0'"),
            0);
  bool pushed = false;
  for (const json& line : bus.Lines()) {
    pushed = pushed || (line["Health"].is_object() &&
                        line["Health"]["Warnings"].contains("router"));
  }
  EXPECT_TRUE(pushed) << "the router warning never reached the bus";
}

}  // namespace
