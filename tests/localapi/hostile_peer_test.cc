// The LocalAPI client against a hostile peer on tailscaled's socket (issue
// 13): bytes that are not UTF-8, control characters, headers over the
// client's bound, JSON nested millions deep. Nothing crashes, nothing
// invalid reaches JSON or a log line, and the errors say what happened.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fake_tailscaled_process.h"
#include "netlink/unique_fd.h"
#include "netlink/utf8.h"
#include "tests/localapi/scripted_server.h"
#include "watchdog/io/process_runner.h"
#include "watchdog/localapi/localapi_client.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {
namespace {

using std::chrono::milliseconds;
using Kind = LocalApiError::Kind;

std::string HttpReply(const std::string& status_line, const std::string& body,
                      const std::string& extra_headers = "") {
  return "HTTP/1.1 " + status_line + "\r\nContent-Type: text/plain\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

class HostilePeerTest : public ::testing::Test {
 protected:
  LocalApiOptions Options() const {
    LocalApiOptions o;
    o.socket_path = listener_.path;
    o.call_timeout = milliseconds(3000);
    o.connect_timeout = milliseconds(1000);
    o.bus_first_line_timeout = milliseconds(3000);
    return o;
  }

  // GET status against a peer that answers `reply`.
  ApiResult<Status> StatusFrom(const std::string& reply) {
    scripted::ScriptedServer server(loop_, listener_, reply);
    LocalApiClient client(loop_, Options());
    std::optional<ApiResult<Status>> result;
    client.GetStatus([&](ApiResult<Status> r) { result = std::move(r); });
    const auto deadline = MonoClock::now() + std::chrono::seconds(10);
    while (!result && MonoClock::now() < deadline) loop_.RunOnce(50);
    EXPECT_TRUE(result.has_value()) << "the call never finished";
    return result ? std::move(*result) : ApiResult<Status>(LocalApiError{});
  }

  EventLoop loop_;
  scripted::Listener listener_;
};

// A non-UTF-8 error body went into the state file and made every later
// write throw (JSON type_error 316): the file froze while `status` said 0.
TEST_F(HostilePeerTest, AnErrorBodyThatIsNotUtf8BecomesValidText) {
  auto status = StatusFrom(
      HttpReply("500 Internal Server Error", "broken \xFF\xFE engine \xC3(\n"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kHttp);
  EXPECT_TRUE(netlink::IsValidUtf8(status.error().message))
      << status.error().message;
  EXPECT_EQ(status.error().message,
            "broken \xEF\xBF\xBD\xEF\xBF\xBD engine \xEF\xBF\xBD(");
  nlohmann::json state = {{"error", status.error().ToString()}};
  EXPECT_NO_THROW((void)state.dump());
}

// The 300-byte trim of server messages cut a multi-byte character in half,
// so even a benign reply made the state file throw.
TEST(ServerMessageTest, TheTrimNeverCutsACharacter) {
  const std::string euro = "\xE2\x82\xAC";
  for (size_t pad = 295; pad <= 300; ++pad) {
    const std::string body = std::string(pad, 'x') + euro + euro + euro;
    const std::string message = ServerMessageFromBody(body);
    EXPECT_TRUE(netlink::IsValidUtf8(message)) << pad;
    EXPECT_TRUE(message.ends_with("...")) << pad;
    EXPECT_LE(message.size(), 303u) << pad;
    EXPECT_GE(message.size(), 298u + 3) << pad;
  }
  const std::string json_body =
      "{\"error\":\"" + std::string(299, 'y') + euro + "\"}";
  EXPECT_EQ(ServerMessageFromBody(json_body), std::string(299, 'y') + "...");
  // A bad byte becomes three (U+FFFD): still at most 300 bytes and "..."
  // (found by the tailscale_json fuzzer).
  const std::string message = ServerMessageFromBody(std::string(400, '\xEA'));
  std::string replaced;
  for (int i = 0; i < 100; ++i) replaced += "\xEF\xBF\xBD";
  EXPECT_EQ(message, replaced + "...");
}

// Deep nesting within the 8 MiB cap took 645 MB and 5 s of CPU per status
// fetch. It is refused before any of it is built.
TEST_F(HostilePeerTest, DeeplyNestedJsonIsRefusedWithoutBuildingIt) {
  const std::string deep(4 << 20, '[');
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = MonoClock::now();
  auto status = StatusFrom(HttpReply("200 OK", deep));
  const auto took = MonoClock::now() - start;
  getrusage(RUSAGE_SELF, &after);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kBadReply) << status.error().ToString();
  EXPECT_NE(status.error().message.find("nested deeper than"),
            std::string::npos)
      << status.error().ToString();
  // A 4 MiB reply is held once (and grown by doubling, kept in ASan's
  // quarantine); parsing it as JSON was 320 MB.
  const long grew_kib = after.ru_maxrss - before.ru_maxrss;
  EXPECT_LT(grew_kib, 64 << 10) << "peak RSS grew by " << grew_kib << " KiB";
  EXPECT_LT(took, std::chrono::seconds(5));

  // The same as an error body, whose message is read from JSON too.
  auto error = StatusFrom(HttpReply("500 Internal Server Error", deep));
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().kind, Kind::kHttp);
  EXPECT_LE(error.error().message.size(), 303u);
}

TEST(JsonDepthTest, EveryParserRefusesDeepNestingAndKeepsShallowJson) {
  const std::string deep_array = std::string(100000, '[');
  std::string deep_object;
  for (int i = 0; i < 1000; ++i) deep_object += "{\"a\":";
  const std::string deep_in_strings =
      "{\"BackendState\":\"Running\",\"Version\":\"" + std::string(1000, '[') +
      "\"}";
  for (const std::string& text : {deep_array, deep_object}) {
    auto status = ParseStatus(text);
    auto notify = ParseNotify(text);
    auto prefs = ParsePrefs(text);
    auto health = ParseHealthState(text);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("nested deeper than"),
              std::string::npos)
        << status.error().message;
    ASSERT_FALSE(notify.ok());
    EXPECT_NE(notify.error().message.find("nested deeper than"),
              std::string::npos)
        << notify.error().message;
    EXPECT_FALSE(prefs.ok());
    EXPECT_FALSE(health.ok());
  }
  // Brackets inside strings are text, not nesting.
  auto status = ParseStatus(deep_in_strings);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(status->version, std::string(1000, '['));
}

// Headers over the client's bound (64 KiB) are a bad reply that says so.
// (libcurl, which the client used before, refused a header line over 100 KB
// with CURLE_OUT_OF_MEMORY, reported as "Out of memory".)
TEST_F(HostilePeerTest, AHeaderLineOverTheLimitIsReportedAsWhatItIs) {
  const std::string big(150 * 1024, 'h');
  auto status = StatusFrom(HttpReply("200 OK", "{}", "X-Big: " + big + "\r\n"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, Kind::kBadReply) << status.error().ToString();
  EXPECT_EQ(status.error().message.find("Out of memory"), std::string::npos)
      << status.error().ToString();
  EXPECT_NE(status.error().message.find("header"), std::string::npos)
      << status.error().ToString();
}

// Children got libcurl's sockets (not close-on-exec, when the client used
// libcurl): a hook's background
// child kept tailscaled's bus connection open after the daemon exited. A
// child gets stdin, stdout and stderr, and nothing else of ours.
TEST(ChildDescriptorsTest, ChildrenInheritNoLocalApiConnectionNorAnyOtherFd) {
  fake::FakeTailscaledProcess fake({});
  EventLoop loop;
  LocalApiOptions options;
  options.socket_path = fake.socket_path();
  LocalApiClient client(loop, options);
  bool connected = false;
  client.WatchBus([](const Notify&) {},
                  [&connected](const BusEvent& event) {
                    connected = event.kind == BusEvent::Kind::kConnected;
                  });
  const auto deadline = MonoClock::now() + std::chrono::seconds(10);
  while (!connected && MonoClock::now() < deadline) loop.RunOnce(50);
  ASSERT_TRUE(connected);
  // And a descriptor of the daemon's own that is not close-on-exec either.
  netlink::UniqueFd leaky(fcntl(STDIN_FILENO, F_DUPFD, 57));
  ASSERT_TRUE(leaky);

  ProcessRunner runner(loop);
  std::optional<ProcessResult> result;
  // ls, a child of the shell, lists the shell's descriptors.
  runner.Run({"/bin/sh", "-c", "ls /proc/$$/fd"}, std::chrono::seconds(10), {},
             [&result](const ProcessResult& r) { result = r; });
  while (!result && MonoClock::now() < deadline) loop.RunOnce(50);
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->Describe() << ": " << result->output;
  EXPECT_EQ(result->output, "0\n1\n2\n");
  client.StopWatchingBus();
}

}  // namespace
}  // namespace watchdog
