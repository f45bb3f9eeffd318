// libFuzzer target: the fuzz input is what tailscaled writes back on its
// LocalAPI socket, byte for byte: status line, headers, a plain, chunked or
// truncated body. A server on a real Unix socket (in a temp dir, driven by the
// same event loop as the client, so one thread and no sleeps) reads each
// request and answers with those bytes, then closes. The real client consumes
// them twice: GetStatus (core/http_response.h's framing and de-chunking, our
// size cap, error-body messages, ParseStatus) and the watch-ipn-bus stream
// (line splitting, ParseNotify, connect/disconnect events).
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "netlink/utf8.h"
#include "tests/localapi/scripted_server.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/localapi/localapi_client.h"

namespace {

using watchdog::EventLoop;

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// The listening socket, made once per process; removed at exit (a crash
// leaves the temp dir behind).
scripted::Listener& TheListener() {
  static scripted::Listener listener;
  return listener;
}

watchdog::LocalApiOptions Options() {
  watchdog::LocalApiOptions options;
  options.socket_path = TheListener().path;
  options.call_timeout = std::chrono::seconds(3);
  options.connect_timeout = std::chrono::seconds(1);
  // Small caps, so inputs of a few KB reach the size checks.
  options.max_response_bytes = 2048;
  options.max_bus_line_bytes = 512;
  options.bus_first_line_timeout = std::chrono::seconds(3);
  return options;
}

// Runs `loop` until `done` or a deadline well past every client timeout.
template <typename Done>
void RunUntil(EventLoop& loop, Done done) {
  const auto deadline = watchdog::MonoClock::now() + std::chrono::seconds(8);
  while (!done()) {
    Check(watchdog::MonoClock::now() < deadline);  // a hang is a bug
    loop.RunOnce(100);
  }
}

void CheckError(const watchdog::LocalApiError& error,
                std::string_view endpoint) {
  Check(error.endpoint == endpoint);
  Check(!error.message.empty());
  Check(error.http_status >= 0 && error.http_status < 1000);
  if (error.kind == watchdog::LocalApiError::Kind::kHttp) {
    Check(error.http_status < 200 || error.http_status >= 300);
  }
  Check(!error.ToString().empty());
  // Error texts reach the state file's JSON: valid UTF-8, whatever the
  // server sent (issue 13).
  Check(netlink::IsValidUtf8(error.ToString()));
}

void FuzzGetStatus(std::string_view response) {
  EventLoop loop;
  scripted::ScriptedServer server(loop, TheListener(), response);
  int calls = 0;
  {
    watchdog::LocalApiClient client(loop, Options());
    client.GetStatus([&](watchdog::ApiResult<watchdog::Status> result) {
      ++calls;
      if (!result.ok()) {
        CheckError(result.error(), "GET /localapi/v0/status?peers=false");
      }
    });
    RunUntil(loop, [&] { return calls > 0; });
    Check(client.in_flight() == 0);
  }
  Check(calls == 1);
  Check(loop.PendingTimers() == 0);  // nothing armed outlives the call
}

void FuzzBus(std::string_view response) {
  EventLoop loop;
  scripted::ScriptedServer server(loop, TheListener(), response);
  watchdog::LocalApiClient client(loop, Options());
  bool connected = false;
  int disconnects = 0;
  int notifies = 0;
  client.WatchBus(
      [&](const watchdog::Notify&) {
        Check(connected);  // kConnected comes with the first good line
        ++notifies;
      },
      [&](const watchdog::BusEvent& event) {
        if (event.kind == watchdog::BusEvent::Kind::kConnected) {
          Check(!connected && disconnects == 0);
          connected = true;
          return;
        }
        ++disconnects;
        CheckError(event.error, event.error.endpoint);
        Check(event.error.endpoint.starts_with(
            "GET /localapi/v0/watch-ipn-bus?mask="));
        Check(event.failures == 1);
        client.StopWatchingBus();
      });
  // The server closes after its bytes: every stream ends in one disconnect.
  RunUntil(loop, [&] { return disconnects > 0; });
  Check(disconnects == 1);
  Check(!client.bus_connected());
  Check(client.in_flight() == 0);
  Check(notifies == 0 || connected);
  // Stopped: no first-line, line or reconnect timer is left.
  Check(loop.PendingTimers() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Log lines are formatted (that code runs) but go nowhere.
  auto logger = std::make_shared<spdlog::logger>(
      "fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  TheListener();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view response(reinterpret_cast<const char*>(data), size);
  FuzzGetStatus(response);
  FuzzBus(response);
  return 0;
}
