// The fake itself, over raw bytes: it must behave like tailscaled where the
// client and the daemon's tests rely on it (localapi.md sections 1-2).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "fake_tailscaled_process.h"
#include "netlink/unique_fd.h"

namespace watchdog {
namespace {

using fake::FakeTailscaledProcess;

// Sends raw request bytes; reads until the server closes, `stop_at` appears,
// or 3 s pass.
std::string Exchange(const std::string& socket, const std::string& request,
                     const std::string& stop_at = "") {
  netlink::UniqueFd fd = fake::ConnectUnixSocket(socket);
  if (!fd) return "connect failed";
  if (::write(fd.get(), request.data(), request.size()) < 0)
    return "write failed";
  std::string out;
  char buf[8192];
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!stop_at.empty() && out.find(stop_at) != std::string::npos) break;
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Get(const std::string& target, const std::string& extra = "",
                const std::string& host = "local-tailscaled.sock") {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host +
         "\r\nConnection: close\r\n" + extra + "\r\n";
}

std::string Post(const std::string& target, const std::string& body) {
  return "POST " + target +
         " HTTP/1.1\r\nHost: local-tailscaled.sock\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

class FakeTailscaledTest : public ::testing::Test {
 protected:
  std::string Ask(const std::string& request, const std::string& stop = "") {
    return Exchange(fake_.socket_path(), request, stop);
  }
  FakeTailscaledProcess fake_;
};

TEST_F(FakeTailscaledTest, RejectsWrongHostOriginAndReferer) {
  const std::string denied = "HTTP/1.1 403 Forbidden";
  EXPECT_TRUE(
      Ask(Get("/localapi/v0/status", "", "localhost")).starts_with(denied));
  EXPECT_TRUE(Ask(Get("/localapi/v0/status", "", "local-tailscaled.sock:80"))
                  .starts_with(denied));
  auto origin = Ask(Get("/localapi/v0/status", "Origin: http://evil\r\n"));
  EXPECT_TRUE(origin.starts_with(denied));
  EXPECT_NE(origin.find("invalid localapi request\n"), std::string::npos);
  EXPECT_TRUE(Ask(Get("/localapi/v0/status", "Referer: http://evil/\r\n"))
                  .starts_with(denied));
  // HTTP/1.0 without Host is accepted, like Go's validHost.
  EXPECT_TRUE(Ask("GET /localapi/v0/status HTTP/1.0\r\n\r\n")
                  .starts_with("HTTP/1.1 200 OK"));
}

TEST_F(FakeTailscaledTest, StatusHasTailscaleHeadersAndTabIndent) {
  auto reply = Ask(Get("/localapi/v0/status?peers=false"));
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK"));
  EXPECT_NE(reply.find("Tailscale-Version: 1.102.3-t53a0d659a\r\n"),
            std::string::npos);
  EXPECT_NE(reply.find("\n\t\"BackendState\": \"Running\""), std::string::npos);
}

TEST_F(FakeTailscaledTest, EndpointErrorsMatchTailscaled) {
  EXPECT_NE(Ask(Get("/localapi/v0/nope")).find("404 page not found"),
            std::string::npos);
  EXPECT_NE(Ask(Get("/localapi/v0/debug?action=rebind")).find("405"),
            std::string::npos);
  EXPECT_NE(
      Ask(Post("/localapi/v0/debug", "")).find("missing parameter 'action'"),
      std::string::npos);
  EXPECT_NE(Ask(Post("/localapi/v0/debug?action=frob", ""))
                .find("unknown action \"frob\""),
            std::string::npos);
  auto start_empty = Ask(Post("/localapi/v0/start", ""));
  EXPECT_TRUE(start_empty.starts_with("HTTP/1.1 400")) << start_empty;
  EXPECT_TRUE(Ask(Post("/localapi/v0/start", "{}"))
                  .starts_with("HTTP/1.1 204 No Content"));
  EXPECT_NE(
      Ask(Post("/localapi/v0/debug?action=rebind", "")).find("\r\n\r\ndone\n"),
      std::string::npos);
  EXPECT_NE(Ask(Get("/localapi/v0/watch-ipn-bus?mask=x")).find("bad mask"),
            std::string::npos);
  EXPECT_TRUE(Ask(Get("/localapi/v0/watch-ipn-bus?mask=65538"))
                  .starts_with("HTTP/1.1 400"));
}

// The wire details checked against tailscale's ipn/localapi/localapi.go and
// ipnlocal's WatchNotificationsAs.
TEST_F(FakeTailscaledTest, WireDetailsMatchTailscaled) {
  // serveLocalAPIRoot.
  auto root = Ask(Get("/"));
  EXPECT_TRUE(root.starts_with("HTTP/1.1 200 OK")) << root;
  EXPECT_NE(root.find("\r\n\r\ntailscaled\n"), std::string::npos) << root;
  // serveStart checks the method after permission: 400, not 405.
  auto start_get = Ask(Get("/localapi/v0/start"));
  EXPECT_TRUE(start_get.starts_with("HTTP/1.1 400")) << start_get;
  EXPECT_NE(start_get.find("want POST\n"), std::string::npos);
  // A prefs body that does not decode is http.Error: plain text.
  const std::string bad = "{nope";
  auto patch =
      Ask("PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"
          "Connection: close\r\nContent-Length: 5\r\n\r\n" +
          bad);
  EXPECT_TRUE(patch.starts_with("HTTP/1.1 400")) << patch;
  EXPECT_NE(patch.find("text/plain"), std::string::npos) << patch;
  EXPECT_EQ(patch.find("\"Error\""), std::string::npos) << patch;
  // tailcfg.CurrentCapabilityVersion at 1.102.3.
  EXPECT_NE(Ask(Get("/localapi/v0/status")).find("Tailscale-Cap: 142\r\n"),
            std::string::npos);
  // The host check comes before the Tailscale headers are set.
  auto denied = Ask(Get("/localapi/v0/status", "", "localhost"));
  EXPECT_EQ(denied.find("Tailscale-Version"), std::string::npos) << denied;
}

TEST_F(FakeTailscaledTest, BusMaskRules) {
  // An empty mask is 0: accepted, and (no initial bit) silent.
  auto empty = Ask(Get("/localapi/v0/watch-ipn-bus?mask="), "\r\n\r\n");
  EXPECT_TRUE(empty.starts_with("HTTP/1.1 200 OK")) << empty;
  // NotifyInitialHealthState alone is no initial bit: nothing first.
  auto health_only =
      Ask(Get("/localapi/v0/watch-ipn-bus?mask=128"), "never appears");
  EXPECT_TRUE(health_only.starts_with("HTTP/1.1 200 OK")) << health_only;
  EXPECT_EQ(health_only.find("\"Version\""), std::string::npos) << health_only;
  // With the state bit, the first line carries Health too.
  auto initial = Ask(Get("/localapi/v0/watch-ipn-bus?mask=130"), "}}\n\r\n");
  EXPECT_NE(initial.find("\"Health\":{\"Warnings\":null}"), std::string::npos)
      << initial;
  // ValidateNotifyWatchOpt (>= 1.100): rate limit with new-style bits.
  EXPECT_TRUE(Ask(Get("/localapi/v0/watch-ipn-bus?mask=4352"))
                  .starts_with("HTTP/1.1 400"));
}

TEST_F(FakeTailscaledTest, WriteNeedsAnAllowedPeerUid) {
  fake_.MustControl("write-uids 4242");  // not us
  auto reply = Ask(Post("/localapi/v0/debug?action=rebind", ""));
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 403")) << reply;
  EXPECT_NE(reply.find("debug access denied"), std::string::npos);
  EXPECT_TRUE(Ask(Get("/localapi/v0/status")).starts_with("HTTP/1.1 200"));
  fake_.MustControl("write-uids " + std::to_string(::geteuid()));
  EXPECT_TRUE(Ask(Post("/localapi/v0/debug?action=rebind", ""))
                  .starts_with("HTTP/1.1 200"));
  auto log = fake_.Requests();
  ASSERT_GE(log.size(), 1u);
  EXPECT_EQ(log.front()["uid"], ::geteuid());
}

TEST_F(FakeTailscaledTest, BusIsChunkedJsonLines) {
  auto reply = Ask(Get("/localapi/v0/watch-ipn-bus?mask=146"), "}}\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK")) << reply;
  EXPECT_NE(reply.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(reply.find("\"State\":6"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\"Health\":{\"Warnings\":null}}\n\r\n"),
            std::string::npos)
      << reply;
}

TEST_F(FakeTailscaledTest, OldDaemonQuirkRequiresNoPrivateKeysBit) {
  fake_.MustControl("require-npk on");
  fake_.MustControl("write-uids -");
  EXPECT_TRUE(Ask(Get("/localapi/v0/watch-ipn-bus?mask=130"))
                  .starts_with("HTTP/1.1 403"));
  EXPECT_TRUE(Ask(Get("/localapi/v0/watch-ipn-bus?mask=146"), "\r\n\r\n")
                  .starts_with("HTTP/1.1 200"));
}

std::string Patch(const std::string& body) {
  return "PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kDown = R"({"WantRunning":false,"WantRunningSet":true})";
const std::string kUp = R"({"WantRunning":true,"WantRunningSet":true})";

// A dead control connection: only start (a new control client) heals it;
// rebind and reup never touch control (docs/tailscaled-behaviour.md).
TEST_F(FakeTailscaledTest, StuckControlHealsOnlyOnStart) {
  fake_.MustControl("stuck control");
  EXPECT_EQ(fake_.Get()["online"], false);
  Ask(Post("/localapi/v0/debug?action=rebind", ""));
  Ask(Patch(kDown));
  Ask(Patch(kUp));
  EXPECT_EQ(fake_.Get()["stuck"], nlohmann::json::array({"control"}));
  EXPECT_EQ(fake_.Get()["online"], false);
  auto status = Ask(Get("/localapi/v0/status"));
  EXPECT_NE(status.find("\"Online\": false"), std::string::npos);
  EXPECT_NE(
      status.find("Unable to connect to the Tailscale coordination server"),
      std::string::npos);
  Ask(Post("/localapi/v0/start", "{}"));
  auto healed = fake_.Get();
  EXPECT_TRUE(healed["stuck"].empty());
  EXPECT_EQ(healed["online"], true);
  EXPECT_TRUE(healed["warnings"].empty());
}

// A route-programming failure: start does not re-apply the router, a
// WantRunning false -> true cycle does.
TEST_F(FakeTailscaledTest, StuckRouterHealsOnlyOnReup) {
  fake_.MustControl("stuck router");
  EXPECT_EQ(fake_.Get()["warnings"], nlohmann::json::array({"router"}));
  EXPECT_EQ(fake_.Get()["online"], true);
  Ask(Post("/localapi/v0/start", "{}"));
  Ask(Post("/localapi/v0/debug?action=rebind", ""));
  EXPECT_EQ(fake_.Get()["stuck"], nlohmann::json::array({"router"}));
  auto status = Ask(Get("/localapi/v0/status"));
  EXPECT_NE(status.find("add route failures; first was: network is down"),
            std::string::npos)
      << status;
  Ask(Patch(kDown));
  EXPECT_EQ(fake_.Get()["backend_state"], "Stopped");
  Ask(Patch(kUp));
  auto healed = fake_.Get();
  EXPECT_EQ(healed["backend_state"], "Running");
  EXPECT_TRUE(healed["stuck"].empty());
  EXPECT_TRUE(healed["warnings"].empty());
}

// The home DERP gone: rebind heals it (the post-rebind ping fails and it
// redials); the map poll, and so Self.Online, never ended.
TEST_F(FakeTailscaledTest, StuckDerpHealsOnRebind) {
  fake_.MustControl("stuck derp");
  auto stuck = fake_.Get();
  EXPECT_EQ(stuck["online"], true);
  EXPECT_EQ(stuck["warnings"], nlohmann::json::array({"no-derp-connection"}));
  Ask(Post("/localapi/v0/start", "{}"));
  EXPECT_EQ(fake_.Get()["stuck"], nlohmann::json::array({"derp"}));
  Ask(Post("/localapi/v0/debug?action=rebind", ""));
  EXPECT_TRUE(fake_.Get()["stuck"].empty());
  EXPECT_TRUE(fake_.Get()["warnings"].empty());
}

TEST_F(FakeTailscaledTest, StartHealsWithTheBusLinesTailscaledSends) {
  fake_.MustControl("stuck control");
  fake_.MustControl("start-delay 300");
  netlink::UniqueFd watch = fake::ConnectUnixSocket(fake_.socket_path());
  const std::string request =
      "GET /localapi/v0/watch-ipn-bus?mask=146 HTTP/1.1\r\n"
      "Host: local-tailscaled.sock\r\n\r\n";
  ASSERT_EQ(::write(watch.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(fake::WaitUntil([&] { return fake_.Get()["watchers"] == 1; }));
  ASSERT_TRUE(
      Ask(Post("/localapi/v0/start", "{}")).starts_with("HTTP/1.1 204"));
  auto starting = fake_.Get();
  EXPECT_EQ(starting["backend_state"], "Starting");
  EXPECT_EQ(starting["online"], false);
  ASSERT_TRUE(fake::WaitUntil(
      [&] { return fake_.Get()["backend_state"] == "Running"; }));
  EXPECT_EQ(fake_.Get()["online"], true);
  // What the watcher saw after its first line: Prefs, State 5, healthy, 6.
  std::string stream;
  char buf[65536];
  ASSERT_TRUE(fake::WaitUntil([&] {
    pollfd p{watch.get(), POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) {
      const ssize_t n = ::read(watch.get(), buf, sizeof buf);
      if (n > 0) stream.append(buf, static_cast<size_t>(n));
    }
    const size_t starting_at = stream.find("\"State\":5");
    return starting_at != std::string::npos &&
           stream.find("\"State\":6", starting_at) != std::string::npos;
  }));
  // (The first line, mask 146, has "Prefs":null.)
  const size_t prefs = stream.find("\"Prefs\":{");
  const size_t state5 = stream.find("\"State\":5");
  const size_t healthy = stream.find("\"Warnings\":null", state5);
  const size_t state6 = stream.find("\"State\":6", state5);
  ASSERT_NE(prefs, std::string::npos) << stream;
  EXPECT_LT(prefs, state5);
  EXPECT_LT(state5, healthy);
  EXPECT_LT(healthy, state6);
}

TEST_F(FakeTailscaledTest, SocketDownAndUp) {
  fake_.MustControl("socket-down");
  EXPECT_FALSE(fake::ConnectUnixSocket(fake_.socket_path()).valid());
  fake_.MustControl("socket-up");
  EXPECT_TRUE(Ask(Get("/localapi/v0/status")).starts_with("HTTP/1.1 200"));
}

TEST_F(FakeTailscaledTest, UnknownControlCommandIsAnError) {
  EXPECT_TRUE(fake_.Control("frobnicate").starts_with("error "));
  EXPECT_TRUE(fake_.Control("stuck never").starts_with("error "));
  EXPECT_TRUE(fake_.Control("heal").starts_with("ok"));
}

}  // namespace
}  // namespace watchdog
