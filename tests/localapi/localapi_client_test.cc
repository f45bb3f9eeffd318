// LocalApiClient against a real fake_tailscaled process, in every failure
// mode: no crash, bounded time, a clear error, reconnect when it comes back.
#include "watchdog/localapi/localapi_client.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "fake_tailscaled_process.h"
#include "tests/localapi/test_fixtures.h"

namespace watchdog {
namespace {

using fake::FakeTailscaledProcess;
using std::chrono::milliseconds;
using Kind = LocalApiError::Kind;

constexpr auto kDeadline = std::chrono::seconds(10);

class LocalApiClientTest : public ::testing::Test {
 protected:
  void StartFake(std::vector<std::string> args = {}) {
    fake_ = std::make_unique<FakeTailscaledProcess>(std::move(args));
  }

  LocalApiOptions Options() const {
    LocalApiOptions o;
    o.socket_path = fake_ ? fake_->socket_path() : "/nonexistent/ts.sock";
    o.call_timeout = milliseconds(1500);
    o.connect_timeout = milliseconds(1000);
    o.bus_first_line_timeout = milliseconds(1000);
    o.reconnect_initial = milliseconds(50);
    o.reconnect_max = milliseconds(400);
    return o;
  }

  // Runs the loop until `done` holds; fails the test after kDeadline.
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = kDeadline) {
    const auto deadline = MonoClock::now() + limit;
    while (!done()) {
      if (MonoClock::now() > deadline) return false;
      loop_.RunOnce(20);
    }
    return true;
  }

  template <typename T, typename StartFn>
  ApiResult<T> Call(StartFn start) {
    std::optional<ApiResult<T>> result;
    start([&](ApiResult<T> r) { result = std::move(r); });
    EXPECT_TRUE(RunUntil([&] { return result.has_value(); }))
        << "call never finished";
    return result ? std::move(*result) : ApiResult<T>(LocalApiError{});
  }

  ApiResult<Status> GetStatus(LocalApiClient& c) {
    return Call<Status>([&](auto cb) { c.GetStatus(std::move(cb)); });
  }

  // Bus bookkeeping.
  struct BusLog {
    std::vector<Notify> notes;
    std::vector<BusEvent> events;
    int connects() const {
      int n = 0;
      for (const auto& e : events) n += e.kind == BusEvent::Kind::kConnected;
      return n;
    }
    int disconnects() const {
      return static_cast<int>(events.size()) - connects();
    }
    bool SawWarning(const std::string& code) const {
      for (const auto& n : notes) {
        if (n.health && n.health->warnings.count(code)) return true;
      }
      return false;
    }
  };
  void Watch(LocalApiClient& c, BusLog& log) {
    c.WatchBus([&log](const Notify& n) { log.notes.push_back(n); },
               [&log](const BusEvent& e) { log.events.push_back(e); });
  }

  EventLoop loop_;
  std::unique_ptr<FakeTailscaledProcess> fake_;
};

TEST_F(LocalApiClientTest, StatusOverTheSocketWithTheRightHeaders) {
  StartFake();
  LocalApiClient client(loop_, Options());
  auto status = GetStatus(client);
  ASSERT_TRUE(status.ok()) << status.error().ToString();
  EXPECT_EQ(status->backend_state, BackendState::kRunning);
  EXPECT_TRUE(status->self_online);
  auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["target"], "/localapi/v0/status?peers=false");
  EXPECT_EQ(requests[0]["host"], "local-tailscaled.sock");
  EXPECT_FALSE(requests[0]["headers"].contains("origin"));
  EXPECT_FALSE(requests[0]["headers"].contains("referer"));
}

// One connection per call, closed once the answer is in: tailscaled holds no
// idle connection of ours between the rare calls, and no call can race the
// server closing a kept-alive one.
TEST_F(LocalApiClientTest, EachCallHasItsOwnConnectionClosedAfterTheAnswer) {
  StartFake();
  LocalApiClient client(loop_, Options());
  ASSERT_TRUE(GetStatus(client).ok());
  ASSERT_TRUE(GetStatus(client).ok());
  auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0]["conn"], requests[1]["conn"]);
  EXPECT_EQ(requests[0]["headers"].value("connection", ""), "close");
  EXPECT_EQ(client.in_flight(), 0u);
  EXPECT_TRUE(
      fake::WaitUntil([&] { return fake_->Get()["connections"] == 0; }));
}

// The note travels percent-encoded in the query (tailscale
// ipn/localapi/localapi.go serveBugReport reads r.URL.Query().Get("note")).
TEST_F(LocalApiClientTest, BugReportNoteArrivesWhole) {
  StartFake();
  LocalApiClient client(loop_, Options());
  const std::string note = "tswatchdog: before reup & restart = 100% \xC3\xA9";
  auto marker = Call<std::string>(
      [&](auto cb) { client.BugReport(note, std::move(cb)); });
  ASSERT_TRUE(marker.ok()) << marker.error().ToString();
  EXPECT_TRUE(marker->starts_with("BUG-")) << *marker;
  EXPECT_FALSE(fake_->WaitForEvent("bugreport", {{"note", note}}).is_null());
}

TEST_F(LocalApiClientTest, ChunkedStatusBody) {
  // A fixture status is > 2 KiB, so the fake (like Go) sends it chunked.
  StartFake(
      {"--status-file", FixturePath("status-running-but-offline-1.102.json")});
  LocalApiClient client(loop_, Options());
  auto status = GetStatus(client);
  ASSERT_TRUE(status.ok()) << status.error().ToString();
  EXPECT_EQ(status->self_node_id, 4981177045226314LL);
  EXPECT_FALSE(status->self_online);
}

TEST_F(LocalApiClientTest, WriteCallsAndTheirBodies) {
  StartFake();
  LocalApiClient client(loop_, Options());
  auto rebind = Call<ApiDone>([&](auto cb) { client.Rebind(std::move(cb)); });
  ASSERT_TRUE(rebind.ok()) << rebind.error().ToString();
  auto restun = Call<ApiDone>([&](auto cb) { client.ReStun(std::move(cb)); });
  ASSERT_TRUE(restun.ok()) << restun.error().ToString();
  auto start = Call<ApiDone>([&](auto cb) { client.Start(std::move(cb)); });
  ASSERT_TRUE(start.ok()) << start.error().ToString();
  auto down = Call<Prefs>(
      [&](auto cb) { client.SetWantRunning(false, std::move(cb)); });
  ASSERT_TRUE(down.ok()) << down.error().ToString();
  EXPECT_FALSE(down->want_running);
  EXPECT_EQ(fake_->Get()["backend_state"], "Stopped");
  auto prefs = Call<Prefs>([&](auto cb) { client.GetPrefs(std::move(cb)); });
  ASSERT_TRUE(prefs.ok());
  EXPECT_FALSE(prefs->want_running);
  auto up =
      Call<Prefs>([&](auto cb) { client.SetWantRunning(true, std::move(cb)); });
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(fake_->Get()["backend_state"], "Running");

  auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 6u);
  EXPECT_EQ(requests[0]["method"], "POST");
  EXPECT_EQ(requests[0]["target"], "/localapi/v0/debug?action=rebind");
  EXPECT_EQ(requests[1]["target"], "/localapi/v0/debug?action=restun");
  EXPECT_EQ(requests[2]["target"], "/localapi/v0/start");
  EXPECT_EQ(requests[2]["body"], "{}");
  EXPECT_EQ(requests[2]["status"], 204);
  EXPECT_EQ(requests[3]["method"], "PATCH");
  EXPECT_EQ(requests[3]["body"],
            R"({"WantRunning":false,"WantRunningSet":true})");
  EXPECT_EQ(requests[4]["method"], "GET");
  EXPECT_EQ(requests[5]["body"],
            R"({"WantRunning":true,"WantRunningSet":true})");
}

TEST_F(LocalApiClientTest, WriteWithoutPermissionSays403Clearly) {
  StartFake({"--write-uids", "-"});  // nobody may write, not even root
  LocalApiClient client(loop_, Options());
  auto rebind = Call<ApiDone>([&](auto cb) { client.Rebind(std::move(cb)); });
  ASSERT_FALSE(rebind.ok());
  EXPECT_EQ(rebind.error().http_status, 403);
  EXPECT_TRUE(rebind.error().write_access_denied);
  EXPECT_NE(rebind.error().message.find("debug access denied"),
            std::string::npos);
  EXPECT_NE(rebind.error().message.find("operator"), std::string::npos);
  EXPECT_NE(
      rebind.error().ToString().find("POST /localapi/v0/debug?action=rebind"),
      std::string::npos);
  auto start = Call<ApiDone>([&](auto cb) { client.Start(std::move(cb)); });
  EXPECT_TRUE(start.error().write_access_denied);
  auto patch = Call<Prefs>(
      [&](auto cb) { client.SetWantRunning(false, std::move(cb)); });
  EXPECT_NE(patch.error().message.find("prefs write access denied"),
            std::string::npos);
  // Reads still work.
  EXPECT_TRUE(GetStatus(client).ok());
}

TEST_F(LocalApiClientTest, PrefsErrorWithCapitalErrorKey) {
  StartFake({"--always-on"});
  LocalApiClient client(loop_, Options());
  auto down = Call<Prefs>(
      [&](auto cb) { client.SetWantRunning(false, std::move(cb)); });
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, Kind::kHttp);
  EXPECT_EQ(down.error().http_status, 400);
  EXPECT_EQ(down.error().message,
            "changing WantRunning is not allowed by system policy (AlwaysOn)");
  EXPECT_FALSE(down.error().write_access_denied);
}

TEST_F(LocalApiClientTest, MissingSocketIsAConnectErrorNamingThePath) {
  LocalApiClient client(loop_, Options());
  const auto started = MonoClock::now();
  auto status = GetStatus(client);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kConnect);
  EXPECT_NE(status.error().message.find("/nonexistent/ts.sock"),
            std::string::npos);
  EXPECT_NE(status.error().message.find("No such file"), std::string::npos);
  EXPECT_LT(MonoClock::now() - started, std::chrono::seconds(2));
}

TEST_F(LocalApiClientTest, HungDaemonTimesOutWithoutBlockingTheLoop) {
  StartFake({"--hang"});
  LocalApiClient client(loop_, Options());
  bool timer_fired = false;
  bool timer_fired_before_result = false;
  loop_.AddTimerAfter(milliseconds(100), [&] { timer_fired = true; });
  std::optional<ApiResult<Status>> result;
  const auto started = MonoClock::now();
  client.GetStatus([&](ApiResult<Status> r) {
    timer_fired_before_result = timer_fired;
    result = std::move(r);
  });
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  EXPECT_TRUE(timer_fired_before_result) << "the loop was blocked";
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().kind, Kind::kTimeout);
  const auto took = MonoClock::now() - started;
  EXPECT_GE(took, milliseconds(1400));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_TRUE(fake_->WaitForRequest("GET", "/localapi/v0/status?peers=false"));
}

TEST_F(LocalApiClientTest, SlowButWithinTimeoutSucceeds) {
  StartFake({"--slow-ms", "300"});
  LocalApiClient client(loop_, Options());
  const auto started = MonoClock::now();
  auto status = GetStatus(client);
  ASSERT_TRUE(status.ok()) << status.error().ToString();
  EXPECT_GE(MonoClock::now() - started, milliseconds(300));
  fake_->MustControl("slow 5000");
  auto slow = GetStatus(client);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().kind, Kind::kTimeout);
}

TEST_F(LocalApiClientTest, GarbageJsonIsABadReply) {
  StartFake({"--garbage"});
  LocalApiClient client(loop_, Options());
  auto status = GetStatus(client);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kBadReply);
  EXPECT_EQ(status.error().endpoint, "GET /localapi/v0/status?peers=false");
  EXPECT_NE(status.error().message.find("invalid JSON"), std::string::npos);
  auto prefs = Call<Prefs>([&](auto cb) { client.GetPrefs(std::move(cb)); });
  EXPECT_EQ(prefs.error().kind, Kind::kBadReply);
}

TEST_F(LocalApiClientTest, ResponseOverTheCapIsRejected) {
  StartFake();
  LocalApiOptions options = Options();
  options.max_response_bytes = 200;
  LocalApiClient client(loop_, options);
  auto status = GetStatus(client);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kTooLarge);
}

TEST_F(LocalApiClientTest, BusDeliversInitialStateAndRebindHealsDerp) {
  StartFake();
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  ASSERT_FALSE(log.notes.empty());
  EXPECT_EQ(log.notes[0].state, BackendState::kRunning);
  ASSERT_TRUE(log.notes[0].health.has_value());
  EXPECT_TRUE(log.notes[0].health->warnings.empty());
  EXPECT_EQ(log.notes[0].session_id.size(), 16u);
  EXPECT_EQ(fake_->CountRequests("GET", "/localapi/v0/watch-ipn-bus?mask=146"),
            1u);

  // The home DERP connection is gone; the map poll is not (Online true).
  fake_->MustControl("stuck derp");
  ASSERT_TRUE(RunUntil([&] { return log.SawWarning("no-derp-connection"); }));
  auto status = GetStatus(client);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->self_online);

  const size_t before = log.notes.size();
  auto rebind = Call<ApiDone>([&](auto cb) { client.Rebind(std::move(cb)); });
  ASSERT_TRUE(rebind.ok());
  ASSERT_TRUE(RunUntil([&] {
    return log.notes.size() > before && log.notes.back().health &&
           log.notes.back().health->warnings.empty();
  }));
  EXPECT_TRUE(GetStatus(client)->self_online);
  EXPECT_EQ(log.disconnects(), 0);
}

TEST_F(LocalApiClientTest, BusCarriesLinesOfHundredsOfKilobytes) {
  StartFake({"--oversized-line", "400000"});
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.notes.size() >= 2; }));
  EXPECT_EQ(log.disconnects(), 0);
}

TEST_F(LocalApiClientTest, BusLineOverTheCapReconnects) {
  StartFake({"--oversized-line", "400000"});
  LocalApiOptions options = Options();
  options.max_bus_line_bytes = 100000;
  LocalApiClient client(loop_, options);
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 1; }));
  EXPECT_EQ(log.events.back().error.kind, Kind::kTooLarge);
  // It keeps trying (and keeps getting the first line before the big one).
  ASSERT_TRUE(RunUntil([&] { return log.connects() >= 2; }));
  EXPECT_GE(fake_->CountRequests("GET", "/localapi/v0/watch-ipn-bus?mask=146"),
            2u);
}

TEST_F(LocalApiClientTest, StreamCutMidLineReconnects) {
  StartFake({"--cut-stream"});
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 2; }));
  for (const auto& n : log.notes) EXPECT_TRUE(n.state.has_value());
  fake_->MustControl("cut-stream off");
  const int connects = log.connects();
  ASSERT_TRUE(RunUntil(
      [&] { return log.connects() > connects && client.bus_connected(); }));
}

TEST_F(LocalApiClientTest, FellBehindReconnects) {
  StartFake();
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  fake_->MustControl("fell-behind");
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 1; }));
  EXPECT_NE(log.events.back().error.message.find("fell behind"),
            std::string::npos);
  ASSERT_TRUE(RunUntil([&] { return log.connects() >= 2; }));
}

TEST_F(LocalApiClientTest, CleanEndOfStreamReconnects) {
  StartFake();
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  fake_->MustControl("eof");
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 1; }));
  EXPECT_EQ(log.events.back().error.message, "stream ended (EOF)");
  EXPECT_EQ(log.events.back().error.endpoint,
            "GET /localapi/v0/watch-ipn-bus?mask=146");
  ASSERT_TRUE(RunUntil([&] { return log.connects() >= 2; }));
}

TEST_F(LocalApiClientTest, DebugEndpointAbsentIs404) {
  StartFake({"--omit-debug"});  // built with ts_omit_debug
  LocalApiClient client(loop_, Options());
  auto rebind = Call<ApiDone>([&](auto cb) { client.Rebind(std::move(cb)); });
  ASSERT_FALSE(rebind.ok());
  EXPECT_EQ(rebind.error().http_status, 404);
  EXPECT_EQ(rebind.error().message, "404 page not found");
  EXPECT_FALSE(rebind.error().write_access_denied);
}

TEST_F(LocalApiClientTest, SocketAbsentThenAppears) {
  StartFake({"--socket-delay-ms", "800"});
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  ASSERT_GE(log.disconnects(), 1);
  EXPECT_EQ(log.events.front().error.kind, Kind::kConnect);
  EXPECT_EQ(log.events.back().kind, BusEvent::Kind::kConnected);
}

TEST_F(LocalApiClientTest, RestartReplacesTheSocketAndTheWatchComesBack) {
  // A magicsock receive function died: only a restart heals that.
  StartFake({"--stuck", "engine"});
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  const std::string first_session = log.notes.front().session_id;
  EXPECT_TRUE(log.SawWarning("magicsock-receive-func-error"));
  fake_->Signal(SIGHUP);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 1; }));
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  EXPECT_NE(log.notes.back().session_id, first_session);
  EXPECT_TRUE(log.notes.back().health->warnings.empty());
  EXPECT_EQ(fake_->Get()["restarts"], 1);
}

TEST_F(LocalApiClientTest, HungBusTimesOutAndRetries) {
  StartFake({"--hang"});
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 2; }));
  EXPECT_EQ(log.events.front().error.kind, Kind::kTimeout);
  EXPECT_FALSE(client.bus_connected());
}

TEST_F(LocalApiClientTest, GarbageBusLinesAreSkipped) {
  StartFake({"--garbage"});
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  ASSERT_EQ(log.notes.size(), 1u);
  EXPECT_EQ(log.notes[0].state, BackendState::kRunning);
}

TEST_F(LocalApiClientTest, BackoffGrowsAndIsCapped) {
  LocalApiClient client(loop_, Options());  // no daemon at all
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 6; }));
  // Doubling with +-20% jitter: each of the first steps exceeds the last.
  EXPECT_GT(log.events[1].retry_in, log.events[0].retry_in);
  EXPECT_GT(log.events[2].retry_in, log.events[1].retry_in);
  for (const auto& e : log.events) {
    EXPECT_LE(e.retry_in, milliseconds(480));  // reconnect_max + 20%
    EXPECT_EQ(e.error.kind, Kind::kConnect);
  }
  EXPECT_EQ(log.events[5].failures, 6);
}

TEST_F(LocalApiClientTest, StopWatchingFromACallback) {
  StartFake();
  LocalApiClient client(loop_, Options());
  int notes = 0;
  client.WatchBus(
      [&](const Notify&) {
        ++notes;
        client.StopWatchingBus();
      },
      [](const BusEvent&) {});
  ASSERT_TRUE(RunUntil([&] { return notes > 0; }));
  fake_->MustControl("warn no-derp-home");
  // The fake saw the watch go away; nothing more was delivered.
  ASSERT_TRUE(fake::WaitUntil([&] {
    loop_.RunOnce(10);
    return fake_->Get()["watchers"] == 0;
  }));
  EXPECT_EQ(notes, 1);
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(LocalApiClientTest, WriteDeniedIsLoggedOnce) {
  StartFake({"--write-uids", "-"});
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  {
    LocalApiClient client(loop_, Options());
    for (int i = 0; i < 3; ++i) {
      auto r = Call<ApiDone>([&](auto cb) { client.Rebind(std::move(cb)); });
      EXPECT_TRUE(r.error().write_access_denied);
    }
  }
  spdlog::set_default_logger(previous);
  int mentions = 0;
  for (const auto& line : sink->last_formatted()) {
    mentions += line.find("lacks write access") != std::string::npos;
  }
  EXPECT_EQ(mentions, 1);
}

TEST_F(LocalApiClientTest, DestroyedWithCallsInFlightLeavesNothingBehind) {
  StartFake({"--hang"});
  auto client = std::make_unique<LocalApiClient>(loop_, Options());
  bool called = false;
  client->GetStatus([&](ApiResult<Status>) { called = true; });
  client->WatchBus([&](const Notify&) { called = true; },
                   [&](const BusEvent&) { called = true; });
  ASSERT_TRUE(RunUntil([&] {
    return fake_->CountRequests("GET", "/localapi/v0/status?peers=false") ==
               1 &&
           fake_->CountRequests("GET", "/localapi/v0/watch-ipn-bus?mask=146") ==
               1;
  }));
  EXPECT_EQ(fake_->Get()["connections"], 2);
  client.reset();
  // Nothing the client armed may fire now (ASan would see a use after free).
  const auto until = MonoClock::now() + milliseconds(300);
  while (MonoClock::now() < until) loop_.RunOnce(20);
  EXPECT_FALSE(called);
  EXPECT_EQ(loop_.PendingTimers(), 0u);
  ASSERT_TRUE(
      fake::WaitUntil([&] { return fake_->Get()["connections"] == 0; }));
}

// --- Fault tests (issue 6): byte-level faults of the fake's `fault` mode ---

// The process's peak resident set (VmHWM), in KiB.
long PeakRssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST_F(LocalApiClientTest, StatusCutInsideAChunkIsAnErrorThenRecovers) {
  StartFake();
  LocalApiClient client(loop_, Options());
  for (const char* mode : {"cut-chunk-data", "cut-chunk-size"}) {
    SCOPED_TRACE(mode);
    fake_->MustControl(std::string("fault ") + mode);
    auto status = GetStatus(client);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, Kind::kTransport)
        << status.error().ToString();
    EXPECT_EQ(status.error().endpoint, "GET /localapi/v0/status?peers=false");
    fake_->MustControl("fault off");
    EXPECT_TRUE(GetStatus(client).ok());
  }
}

TEST_F(LocalApiClientTest, BusCutInsideAChunkReconnects) {
  StartFake();
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  int disconnects = 0;
  for (const char* mode : {"cut-chunk-data", "cut-chunk-size"}) {
    SCOPED_TRACE(mode);
    fake_->MustControl(std::string("fault ") + mode);
    fake_->MustControl("eof");  // the next stream carries the fault
    ++disconnects;
    ASSERT_TRUE(RunUntil([&] { return log.disconnects() > disconnects; }));
    EXPECT_EQ(log.events.back().error.kind, Kind::kTransport);
    disconnects = log.disconnects();
  }
  fake_->MustControl("fault off");
  const int connects = log.connects();
  ASSERT_TRUE(RunUntil(
      [&] { return log.connects() > connects && client.bus_connected(); }));
  // Only whole lines were ever delivered.
  for (const auto& n : log.notes) EXPECT_FALSE(n.version.empty());
}

// A 100 MB status body and a 100 MB bus line: reading stops at the default
// caps (8 MiB) with kTooLarge, and the client never holds the whole reply.
TEST_F(LocalApiClientTest, HundredMegabyteRepliesStopAtTheCap) {
  StartFake({"--fault", "huge:104857600"});
  LocalApiOptions options = Options();
  options.max_response_bytes = LocalApiOptions{}.max_response_bytes;
  options.max_bus_line_bytes = LocalApiOptions{}.max_bus_line_bytes;
  LocalApiClient client(loop_, options);
  const long rss_before = PeakRssKib();
  auto status = GetStatus(client);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kTooLarge) << status.error().ToString();
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 1; }));
  EXPECT_EQ(log.events.back().error.kind, Kind::kTooLarge);
  EXPECT_EQ(log.connects(), 1) << "the first line came before the big one";
  client.StopWatchingBus();
  const long grew_kib = PeakRssKib() - rss_before;
  // Per reply: the cap (8 MiB), the string's growth by doubling, the read
  // buffers; under ASan the quarantine keeps the outgrown buffers resident
  // too (up to about 30 MiB per reply). Holding one 100 MB reply would be
  // 95 MiB and more.
  EXPECT_LT(grew_kib, 80 << 10) << "peak RSS grew by " << grew_kib << " KiB";
  std::printf("100 MB replies: peak RSS grew by %ld KiB\n", grew_kib);
}

// A reply that never ends (one byte every 50 ms): the call times out on
// call_timeout; the loop stays responsive meanwhile.
TEST_F(LocalApiClientTest, EndlessStatusBodyTimesOut) {
  StartFake({"--fault", "endless"});
  LocalApiClient client(loop_, Options());  // call_timeout 1500 ms
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    loop_.AddTimerAfter(milliseconds(100), tick);
  };
  tick();
  const auto start = MonoClock::now();
  auto status = GetStatus(client);
  const auto took = MonoClock::now() - start;
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kTimeout) << status.error().ToString();
  EXPECT_GE(took, milliseconds(1400));
  EXPECT_LE(took, milliseconds(4000));
  EXPECT_GE(ticks, 10);
}

// A bus line that never ends: bus_line_timeout ends the stream, the watch
// reconnects, and comes back healthy once the fault is gone.
TEST_F(LocalApiClientTest, EndlessBusLineTimesOutAndReconnects) {
  StartFake({"--fault", "endless"});
  LocalApiOptions options = Options();
  options.bus_line_timeout = milliseconds(500);
  LocalApiClient client(loop_, options);
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return log.disconnects() >= 1; }));
  EXPECT_EQ(log.connects(), 1);
  EXPECT_EQ(log.events.back().error.kind, Kind::kTimeout);
  EXPECT_NE(log.events.back().error.message.find("bus line unfinished"),
            std::string::npos)
      << log.events.back().error.message;
  fake_->MustControl("fault off");
  ASSERT_TRUE(
      RunUntil([&] { return log.connects() >= 2 && client.bus_connected(); }));
  // A quiet, healthy stream is not a stuck line.
  const int disconnects = log.disconnects();
  const auto until = MonoClock::now() + milliseconds(800);
  while (MonoClock::now() < until) loop_.RunOnce(20);
  EXPECT_EQ(log.disconnects(), disconnects);
}

// tailscaled SIGKILLed mid-stream with a call in flight (an endless body): both
// fail with clear errors (its socket file stays behind, refusing), and
// everything comes back when a new tailscaled listens there.
TEST_F(LocalApiClientTest, SigkillMidStreamThenANewDaemon) {
  StartFake({"--fault", "endless"});  // the bus is mid-line when it dies
  LocalApiClient client(loop_, Options());
  BusLog log;
  Watch(client, log);
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  std::optional<ApiResult<Status>> in_flight;
  client.GetStatus([&](ApiResult<Status> r) { in_flight = std::move(r); });
  ASSERT_TRUE(RunUntil([&] {
    return fake_->CountRequests("GET", "/localapi/v0/status?peers=false") == 1;
  }));
  fake_->Kill();
  ASSERT_TRUE(RunUntil([&] { return in_flight && log.disconnects() >= 1; }));
  EXPECT_FALSE(in_flight->ok());
  EXPECT_NE(in_flight->error().kind, Kind::kTimeout)
      << "a dead peer is noticed at once: " << in_flight->error().ToString();
  EXPECT_EQ(log.events[1].error.endpoint,
            "GET /localapi/v0/watch-ipn-bus?mask=146");
  auto refused = GetStatus(client);
  EXPECT_EQ(refused.error().kind, Kind::kConnect) << refused.error().ToString();
  EXPECT_NE(refused.error().message.find(fake_->socket_path()),
            std::string::npos);
  fake_->Respawn();
  ASSERT_TRUE(RunUntil([&] { return client.bus_connected(); }));
  EXPECT_TRUE(GetStatus(client).ok());
}

TEST(LocalApiSyncTest, OneShotCalls) {
  FakeTailscaledProcess fake;
  LocalApiOptions options;
  options.socket_path = fake.socket_path();
  LocalApiSync api(options);
  auto status = api.GetStatus();
  ASSERT_TRUE(status.ok()) << status.error().ToString();
  EXPECT_TRUE(api.Start().ok());
  EXPECT_TRUE(api.Rebind().ok());
  EXPECT_TRUE(api.ReStun().ok());
  EXPECT_FALSE(api.SetWantRunning(false)->want_running);
  EXPECT_FALSE(api.GetPrefs()->want_running);
}

TEST(ResolveSocketTest, ConfiguredPathWins) {
  EXPECT_EQ(ResolveTailscaledSocket("/x/y.sock"), "/x/y.sock");
  const std::string fallback = ResolveTailscaledSocket("");
  EXPECT_TRUE(fallback == kDefaultSocketPaths[0] ||
              fallback == kDefaultSocketPaths[1]);
}

}  // namespace
}  // namespace watchdog
