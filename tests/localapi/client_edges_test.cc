// The LocalAPI client at its edges, seen by a peer that does what Go's
// net/http server does rarely or a broken peer does: answers before it reads
// the request, never reads it, keeps the connection after a framed reply,
// trickles headers; connect errors of every kind; the client destroyed, or
// its watch replaced, from where a callback or a failed connect is still
// pending. Real Unix sockets, one thread, deadlines on real conditions.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlink/unique_fd.h"
#include "tests/localapi/scripted_server.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {
namespace {

using std::chrono::milliseconds;
using EdgeKind = LocalApiError::Kind;

constexpr const char* kEdgeStatusJson =
    "{\"BackendState\":\"Running\",\"Version\":\"1.102.3\"}";

std::string EdgeReply(const std::string& status_line, const std::string& body) {
  return "HTTP/1.1 " + status_line +
         "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A bus stream's head and its lines, each as one chunk; no last chunk.
std::string EdgeBusStream(const std::vector<std::string>& lines) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (const std::string& line : lines) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", line.size() + 1);
    out += size + line + "\n\r\n";
  }
  return out;
}

size_t OpenDescriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

class ClientEdgeTest : public ::testing::Test {
 protected:
  LocalApiOptions EdgeOptions() const {
    LocalApiOptions o;
    o.socket_path = listener_.path;
    o.call_timeout = milliseconds(5000);
    o.connect_timeout = milliseconds(1000);
    o.bus_first_line_timeout = milliseconds(5000);
    o.reconnect_initial = milliseconds(10000);
    o.reconnect_max = milliseconds(10000);
    return o;
  }

  // Runs the loop until `done` holds, at most `limit`; the callbacks run.
  bool RunUntil(const std::function<bool()>& done,
                milliseconds limit = milliseconds(8000)) {
    const auto deadline = MonoClock::now() + limit;
    while (!done()) {
      if (MonoClock::now() > deadline) return false;
      callbacks_run_ += loop_.RunOnce(20);
    }
    return true;
  }

  ApiResult<Status> StatusOf(LocalApiClient& client) {
    std::optional<ApiResult<Status>> result;
    client.GetStatus([&](ApiResult<Status> r) { result = std::move(r); });
    EXPECT_TRUE(RunUntil([&] { return result.has_value(); }))
        << "the call never finished";
    return result ? std::move(*result) : ApiResult<Status>(LocalApiError{});
  }

  EventLoop loop_;
  scripted::Listener listener_;
  uint64_t callbacks_run_ = 0;
};

// A connect that failed at once is reported from a timer of the loop; the
// client destroyed before it fired still ran the callbacks (the bus's on the
// freed client).
TEST_F(ClientEdgeTest, DestroyedBeforeAFailedConnectIsReportedRunsNothing) {
  LocalApiOptions options = EdgeOptions();
  options.socket_path = listener_.dir + "/absent.sock";
  auto client = std::make_unique<LocalApiClient>(loop_, options);
  bool called = false;
  client->GetStatus([&](ApiResult<Status>) { called = true; });
  client->WatchBus([&](const Notify&) { called = true; },
                   [&](const BusEvent&) { called = true; });
  client.reset();
  ASSERT_EQ(loop_.PendingTimers(), 0u) << "the client left timers behind";
  for (int i = 0; i < 3; ++i) loop_.RunOnce(10);
  EXPECT_FALSE(called);
}

// An attempt cut before its first line left its first-line timer armed: it
// outlived the attempt, and its firing forgot the reconnect timer's id, so
// StopWatchingBus (and the destructor) could not cancel it.
TEST_F(ClientEdgeTest, ABusAttemptCutBeforeItsFirstLineLeavesNoTimerBehind) {
  const std::string cut = EdgeBusStream({});
  scripted::ScriptedServer server(loop_, listener_, cut);
  LocalApiClient client(loop_, EdgeOptions());
  std::vector<BusEvent> events;
  client.WatchBus([](const Notify&) {},
                  [&](const BusEvent& e) { events.push_back(e); });
  ASSERT_TRUE(RunUntil([&] { return !events.empty(); }));
  EXPECT_EQ(events[0].kind, BusEvent::Kind::kDisconnected);
  EXPECT_EQ(events[0].error.kind, EdgeKind::kTransport)
      << events[0].error.ToString();
  EXPECT_EQ(loop_.PendingTimers(), 1u) << "only the reconnect should wait";
  client.StopWatchingBus();
  EXPECT_EQ(loop_.PendingTimers(), 0u);
}

// The same for an attempt that the first-line timer ends while a line is
// unfinished: its unfinished-line timer goes with it.
TEST_F(ClientEdgeTest, ABusAttemptThatTimesOutMidLineLeavesNoTimerBehind) {
  const std::string half_line = EdgeBusStream({}) + "6\r\n{\"Vers\r\n";
  scripted::ScriptedServer server(loop_, listener_, half_line, true);
  LocalApiOptions options = EdgeOptions();
  options.bus_first_line_timeout = milliseconds(100);
  LocalApiClient client(loop_, options);
  std::vector<BusEvent> events;
  client.WatchBus([](const Notify&) {},
                  [&](const BusEvent& e) { events.push_back(e); });
  ASSERT_TRUE(RunUntil([&] { return !events.empty(); }));
  EXPECT_EQ(events[0].error.kind, EdgeKind::kTimeout)
      << events[0].error.ToString();
  EXPECT_EQ(loop_.PendingTimers(), 1u) << "only the reconnect should wait";
  client.StopWatchingBus();
  EXPECT_EQ(loop_.PendingTimers(), 0u);
}

// A callback that replaces the watch replaced (and destroyed) itself while
// it ran; the new watch's callbacks must see only their own stream.
TEST_F(ClientEdgeTest, TheWatchReplacedFromItsOwnCallback) {
  const std::string stream =
      EdgeBusStream({"{\"Version\":\"old-1\"}", "{\"Version\":\"old-2\"}"});
  scripted::ScriptedServer server(loop_, listener_, stream, true);
  LocalApiClient client(loop_, EdgeOptions());
  std::vector<std::string> old_log, new_log;
  const std::string tag(200, 'o');  // a capture that lives on the heap
  client.WatchBus(
      [&old_log, tag](const Notify& n) { old_log.push_back(tag + n.version); },
      [&, tag](const BusEvent& e) {
        if (e.kind != BusEvent::Kind::kConnected) return;
        client.WatchBus(
            [&new_log](const Notify& n) { new_log.push_back(n.version); },
            [&new_log](const BusEvent& event) {
              new_log.push_back(event.kind == BusEvent::Kind::kConnected
                                    ? "connected"
                                    : "lost");
            });
        old_log.push_back(tag + " replaced");  // its captures must live on
      });
  ASSERT_TRUE(RunUntil([&] { return new_log.size() >= 3; }));
  ASSERT_EQ(old_log.size(), 1u);
  EXPECT_EQ(old_log[0], tag + " replaced");
  EXPECT_EQ(new_log[0], "connected");
  EXPECT_EQ(new_log[1], "old-1");  // the new stream's first line
  client.StopWatchingBus();
}

// A peer that sends one good line and hangs up, every time: the first drop
// is news (a restart), the next ones back off like failed connects instead
// of coming every reconnect_initial for ever (each with the daemon's status
// and derpmap fetches).
TEST_F(ClientEdgeTest, AStreamDroppedAfterItsFirstLineStillBacksOff) {
  const std::string one_line = EdgeBusStream({"{\"Version\":\"1.102.3\"}"});
  scripted::ScriptedServer server(loop_, listener_, one_line);
  LocalApiOptions options = EdgeOptions();
  options.reconnect_initial = milliseconds(10);
  options.reconnect_max = milliseconds(2000);
  LocalApiClient client(loop_, options);
  std::vector<BusEvent> lost;
  int connects = 0;
  client.WatchBus([](const Notify&) {},
                  [&](const BusEvent& e) {
                    if (e.kind == BusEvent::Kind::kConnected) {
                      ++connects;
                    } else {
                      lost.push_back(e);
                    }
                  });
  ASSERT_TRUE(RunUntil([&] { return lost.size() >= 5; }));
  EXPECT_EQ(connects, 5);
  for (size_t i = 0; i < lost.size(); ++i) {
    EXPECT_EQ(lost[i].failures, static_cast<int>(i + 1));
  }
  // Doubling with +-20% jitter: 10, 20, 40, 80, 160 ms.
  EXPECT_LE(lost[0].retry_in, milliseconds(12));  // the first drop is news
  EXPECT_GT(lost[4].retry_in, lost[2].retry_in);
  EXPECT_GE(lost[4].retry_in, milliseconds(128));
  client.StopWatchingBus();
}

// Garbage lines for ever after a good one: skipped, and only the first few
// reach the log at warning level (a flood would fill the journal).
TEST_F(ClientEdgeTest, GarbageBusLinesDoNotFloodTheLog) {
  std::vector<std::string> lines = {"{\"Version\":\"1.102.3\"}"};
  for (int i = 0; i < 2000; ++i) lines.push_back("x" + std::to_string(i));
  lines.push_back("{\"Version\":\"still-here\"}");
  const std::string stream = EdgeBusStream(lines);
  scripted::ScriptedServer server(loop_, listener_, stream, true);
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  sink->set_level(spdlog::level::warn);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("edge", sink));
  std::vector<std::string> versions;
  {
    LocalApiClient client(loop_, EdgeOptions());
    client.WatchBus([&](const Notify& n) { versions.push_back(n.version); },
                    [](const BusEvent&) {});
    RunUntil([&] { return versions.size() >= 2; });
  }
  spdlog::set_default_logger(previous);
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[1], "still-here");
  int warned = 0;
  for (const auto& line : sink->last_formatted()) {
    warned += line.find("bad line") != std::string::npos;
  }
  EXPECT_EQ(warned, 3);
}

// Calls started from callbacks (and a watch stopped from one) run to their
// end and leave nothing in flight.
TEST_F(ClientEdgeTest, CallsStartedFromCallbacksRunToTheEnd) {
  const std::string reply = EdgeReply("200 OK", kEdgeStatusJson);
  scripted::ScriptedServer server(loop_, listener_, reply);
  LocalApiClient client(loop_, EdgeOptions());
  int answered = 0;
  std::function<void(ApiResult<Status>)> again = [&](ApiResult<Status> r) {
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    if (++answered < 5) client.GetStatus(again);
  };
  client.GetStatus(again);
  ASSERT_TRUE(RunUntil([&] { return answered == 5; }));
  EXPECT_EQ(client.in_flight(), 0u);
  EXPECT_EQ(server.connections_answered(), 5);
}

// A peer that answers and closes before it reads the request: our send
// fails (EPIPE), but the answer is in the socket and is the result (Go's
// transport reads it too).
TEST_F(ClientEdgeTest, AnAnswerSentBeforeTheRequestIsReadIsTheResult) {
  LocalApiClient client(loop_, EdgeOptions());
  std::optional<ApiResult<Status>> result;
  client.GetStatus([&](ApiResult<Status> r) { result = std::move(r); });
  // Unix sockets connect at once: the connection waits in the queue.
  netlink::UniqueFd peer(::accept4(listener_.fd.get(), nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_TRUE(peer) << std::strerror(errno);
  const std::string answer =
      "HTTP/1.1 403 Forbidden\r\nContent-Length: 17\r\n\r\naccess denied, go";
  ASSERT_EQ(::write(peer.get(), answer.data(), answer.size()),
            static_cast<ssize_t>(answer.size()));
  peer.Reset();
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().kind, EdgeKind::kHttp)
      << result->error().ToString();
  EXPECT_EQ(result->error().http_status, 403);
  EXPECT_EQ(result->error().message, "access denied, go");

  // Closed without a word: the failed send is the news.
  result.reset();
  client.GetStatus([&](ApiResult<Status> r) { result = std::move(r); });
  peer.Reset(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer);
  peer.Reset();
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().kind, EdgeKind::kTransport);
  EXPECT_NE(result->error().message.find("cannot send the request to " +
                                         listener_.path),
            std::string::npos)
      << result->error().ToString();
}

// A peer that never accepts nor reads: the request (a 4 MiB bug-report note)
// fills the socket; the loop goes on, never spins on EPOLLOUT, and the call
// times out.
TEST_F(ClientEdgeTest, APeerThatNeverReadsTimesOutWithoutSpinning) {
  LocalApiOptions options = EdgeOptions();
  options.call_timeout = milliseconds(300);
  LocalApiClient client(loop_, options);
  std::optional<ApiResult<std::string>> result;
  bool loop_ran = false;
  loop_.AddTimerAfter(milliseconds(100), [&] { loop_ran = true; });
  callbacks_run_ = 0;
  client.BugReport(std::string(4 << 20, 'n'),
                   [&](ApiResult<std::string> r) { result = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  EXPECT_TRUE(loop_ran);
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().kind, EdgeKind::kTimeout)
      << result->error().ToString();
  // The timers (ours and the call's) and a few writes, not a spin.
  EXPECT_LT(callbacks_run_, 50u);
}

// A peer that takes the (small) request and never answers: the socket stays
// writable, so an EPOLLOUT left armed after the request would wake the loop
// without end until the call times out.
TEST_F(ClientEdgeTest, AnUnansweredCallDoesNotSpinOnAWritableSocket) {
  LocalApiOptions options = EdgeOptions();
  options.call_timeout = milliseconds(300);
  LocalApiClient client(loop_, options);
  std::optional<ApiResult<Status>> result;
  callbacks_run_ = 0;
  client.GetStatus([&](ApiResult<Status> r) { result = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().kind, EdgeKind::kTimeout);
  EXPECT_LT(callbacks_run_, 10u);
}

// A reply framed by Content-Length, chunks or its status is complete when
// its last byte arrives, whether or not the peer closes.
TEST_F(ClientEdgeTest, AFramedReplyCompletesWhileThePeerKeepsTheConnection) {
  const std::string by_length = EdgeReply("200 OK", kEdgeStatusJson);
  const std::string by_chunks =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
      [] {
        char size[16];
        std::snprintf(size, sizeof size, "%zx", std::strlen(kEdgeStatusJson));
        return std::string(size);
      }() +
      "\r\n" + kEdgeStatusJson + "\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (const std::string& reply : {by_length, by_chunks}) {
    scripted::ScriptedServer server(loop_, listener_, reply, true);
    LocalApiClient client(loop_, EdgeOptions());  // 5 s call timeout
    const auto started = MonoClock::now();
    auto status = StatusOf(client);
    ASSERT_TRUE(status.ok()) << status.error().ToString();
    EXPECT_LT(MonoClock::now() - started, milliseconds(4000));
  }
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  scripted::ScriptedServer server(loop_, listener_, no_content, true);
  LocalApiClient client(loop_, EdgeOptions());
  std::optional<ApiResult<ApiDone>> started;
  client.Start([&](ApiResult<ApiDone> r) { started = std::move(r); });
  ASSERT_TRUE(
      RunUntil([&] { return started.has_value(); }, milliseconds(4000)));
  EXPECT_TRUE(started->ok()) << started->error().ToString();
}

// A peer that sends the bus's head a byte at a time for ever: the
// first-line timer ends the attempt.
TEST_F(ClientEdgeTest, HeadersTrickledForEverEndAtTheFirstLineTimer) {
  LocalApiOptions options = EdgeOptions();
  options.bus_first_line_timeout = milliseconds(300);
  LocalApiClient client(loop_, options);
  std::vector<BusEvent> events;
  client.WatchBus([](const Notify&) {},
                  [&](const BusEvent& e) { events.push_back(e); });
  netlink::UniqueFd peer(::accept4(listener_.fd.get(), nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_TRUE(peer);
  const std::string head =
      "HTTP/1.1 200 OK\r\nX-Slow: " + std::string(1 << 16, 'a');
  size_t sent = 0;
  std::function<void()> trickle = [&] {
    if (!events.empty() || sent == head.size()) return;
    if (::send(peer.get(), head.data() + sent, 1, MSG_NOSIGNAL) == 1) ++sent;
    loop_.AddTimerAfter(milliseconds(10), trickle);
  };
  trickle();
  ASSERT_TRUE(RunUntil([&] { return !events.empty(); }));
  EXPECT_GT(sent, 3u) << "the peer never got to trickle";
  EXPECT_EQ(events[0].kind, BusEvent::Kind::kDisconnected);
  EXPECT_EQ(events[0].error.kind, EdgeKind::kTimeout);
  EXPECT_NE(events[0].error.message.find("no bus message within 300ms"),
            std::string::npos)
      << events[0].error.ToString();
  client.StopWatchingBus();
  RunUntil([&] { return loop_.PendingTimers() == 0; }, milliseconds(100));
}

// Each connect error says what it means: `tswatchdog check` and the
// daemon's log print it.
TEST_F(ClientEdgeTest, ConnectErrorsSayWhatTheyMean) {
  const auto error_at = [&](const std::string& path) {
    LocalApiOptions options = EdgeOptions();
    options.socket_path = path;
    LocalApiClient client(loop_, options);
    auto status = StatusOf(client);
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, EdgeKind::kConnect);
    return status.ok() ? std::string() : status.error().message;
  };
  const std::string absent = listener_.dir + "/absent.sock";
  EXPECT_EQ(error_at(absent),
            "cannot connect to " + absent +
                ": No such file or directory (no socket there: is tailscaled "
                "running, and is this its socket?)");

  // A socket file left behind by a tailscaled that died.
  const std::string stale = listener_.dir + "/stale.sock";
  {
    netlink::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, stale.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr),
              0);
  }
  EXPECT_NE(error_at(stale).find("Connection refused (nothing listens there: "
                                 "tailscaled is not running)"),
            std::string::npos);

  const std::string long_path = "/" + std::string(120, 'p') + "/t.sock";
  EXPECT_NE(error_at(long_path).find("File name too long (a Unix socket path "
                                     "holds at most 107 bytes)"),
            std::string::npos);

  // A listener that accepts nothing (a hung tailscaled): its queue (of one,
  // with backlog 0) fills and the next connect fails at once.
  ASSERT_EQ(::listen(listener_.fd.get(), 0), 0);
  LocalApiClient holder(loop_, EdgeOptions());
  holder.GetStatus([](ApiResult<Status>) {});
  EXPECT_NE(error_at(listener_.path)
                .find("Resource temporarily unavailable (its listen queue is "
                      "full: tailscaled accepts no connections; hung?)"),
            std::string::npos);
}

// As a user who may not enter the socket's directory (the temp dir is 0700,
// root's): a child drops to nobody and asks.
TEST_F(ClientEdgeTest, AConnectWithoutPermissionSaysSo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become nobody";
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  netlink::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string message = "setresuid failed";
    if (::setresgid(65534, 65534, 65534) == 0 &&
        ::setresuid(65534, 65534, 65534) == 0) {
      LocalApiOptions options;
      options.socket_path = listener_.path;
      options.call_timeout = milliseconds(2000);
      LocalApiSync sync(options);
      auto status = sync.GetStatus();
      message = status.ok() ? "ok" : status.error().message;
    }
    (void)!::write(write_end.get(), message.data(), message.size());
    ::_exit(0);
  }
  write_end.Reset();
  std::string message;
  char buffer[512];
  ssize_t n;
  while ((n = ::read(read_end.get(), buffer, sizeof buffer)) > 0) {
    message.append(buffer, n);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  EXPECT_EQ(message, "cannot connect to " + listener_.path +
                         ": Permission denied (this user may not use the "
                         "socket or its directory)");
}

// No descriptor and no timer outlives a call, however it ends.
TEST_F(ClientEdgeTest, NoDescriptorOrTimerOutlivesACall) {
  const size_t before = OpenDescriptors();
  const std::vector<std::string> replies = {
      EdgeReply("200 OK", kEdgeStatusJson),
      EdgeReply("500 Internal Server Error", "{\"error\":\"boom\"}"),
      "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\ncut",
      "SSH-2.0-OpenSSH_9.2\r\n",
      EdgeReply("200 OK", std::string(4096, ' ') + kEdgeStatusJson),
      [] {
        std::string interim;
        while (interim.size() < 70000)
          interim += "HTTP/1.1 100 Continue\r\n\r\n";
        return interim;
      }(),
      "",
  };
  LocalApiOptions options = EdgeOptions();
  options.max_response_bytes = 1024;
  for (const std::string& reply : replies) {
    scripted::ScriptedServer server(loop_, listener_, reply);
    LocalApiClient client(loop_, options);
    (void)StatusOf(client);
    EXPECT_EQ(client.in_flight(), 0u);
  }
  {
    // Nobody answers: the call times out.
    options.call_timeout = milliseconds(100);
    LocalApiClient client(loop_, options);
    EXPECT_EQ(StatusOf(client).error().kind, EdgeKind::kTimeout);
    options.socket_path = listener_.dir + "/absent.sock";
    LocalApiClient absent(loop_, options);
    EXPECT_EQ(StatusOf(absent).error().kind, EdgeKind::kConnect);
  }
  EXPECT_EQ(OpenDescriptors(), before);
  EXPECT_EQ(loop_.PendingTimers(), 0u);
}

}  // namespace
}  // namespace watchdog
