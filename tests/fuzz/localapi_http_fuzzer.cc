// libFuzzer target: the fuzz input is what tailscaled writes back on its
// LocalAPI socket, byte for byte: status line, headers, a plain, chunked or
// truncated body. A server on a real Unix socket (in a temp dir, driven by the
// same event loop as the client, so one thread and no sleeps) reads each
// request and answers with those bytes, then closes. The real client consumes
// them twice: GetStatus (libcurl's HTTP parsing and de-chunking, our size cap,
// error-body messages, ParseStatus) and the watch-ipn-bus stream (line
// splitting, ParseNotify, connect/disconnect events).
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "netlink/unique_fd.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/localapi/localapi_client.h"

namespace {

using netlink::UniqueFd;
using watchdog::EventLoop;

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// The listening socket, made once per process.
struct Listener {
  std::string dir;
  std::string path;
  UniqueFd fd;

  Listener() {
    char dir_template[] = "/tmp/tsw-fuzz-XXXXXX";
    if (!mkdtemp(dir_template)) std::abort();
    dir = dir_template;
    path = dir + "/tailscaled.sock";
    fd.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (!fd ||
        ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) !=
            0 ||
        ::listen(fd.get(), 16) != 0) {
      std::abort();
    }
  }
  ~Listener() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

// Removed at exit (a crash leaves the temp dir behind).
Listener& TheListener() {
  static Listener listener;
  return listener;
}

// Answers every connection on the listener with `response`: reads the
// request head (a GET has no body; closing with unread bytes would reset the
// connection), writes the bytes as far as the client takes them, closes.
class ScriptedServer {
 public:
  ScriptedServer(EventLoop& loop, std::string_view response)
      : loop_(loop), response_(response) {
    const int listen_fd = TheListener().fd.get();
    loop_.WatchFd(listen_fd, EPOLLIN, [this, listen_fd](uint32_t) {
      for (;;) {
        int fd = ::accept4(listen_fd, nullptr, nullptr,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        conns_[fd].fd.Reset(fd);
        loop_.WatchFd(fd, EPOLLIN, [this, fd](uint32_t) { OnReady(fd); });
      }
    });
  }
  ~ScriptedServer() {
    loop_.UnwatchFd(TheListener().fd.get());
    for (auto& [fd, conn] : conns_) loop_.UnwatchFd(fd);
  }
  int connections_answered() const { return answered_; }

 private:
  struct Conn {
    UniqueFd fd;
    std::string request;
    size_t written = 0;
    bool writing = false;
  };

  void OnReady(int fd) {
    Conn& conn = conns_[fd];
    if (!conn.writing) {
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
          conn.request.append(buf, n);
          continue;
        }
        if (n == 0) return Close(fd);  // the client gave up
        break;                         // EAGAIN
      }
      if (conn.request.find("\r\n\r\n") == std::string::npos) return;
      conn.writing = true;
      ++answered_;
      loop_.ModifyFd(fd, EPOLLOUT);
    }
    while (conn.written < response_.size()) {
      ssize_t n = ::send(fd, response_.data() + conn.written,
                         response_.size() - conn.written, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) return;  // until EPOLLOUT
      if (n <= 0) break;                     // the client closed
      conn.written += n;
    }
    Close(fd);
  }

  void Close(int fd) {
    loop_.UnwatchFd(fd);
    conns_.erase(fd);
  }

  EventLoop& loop_;
  std::string_view response_;
  std::map<int, Conn> conns_;
  int answered_ = 0;
};

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
}

void FuzzGetStatus(std::string_view response) {
  EventLoop loop;
  ScriptedServer server(loop, response);
  int calls = 0;
  {
    watchdog::LocalApiClient client(loop, Options());
    client.GetStatus([&](watchdog::ApiResult<watchdog::Status> result) {
      ++calls;
      if (!result.ok()) {
        CheckError(result.error, "GET /localapi/v0/status?peers=false");
      }
    });
    RunUntil(loop, [&] { return calls > 0; });
    Check(client.in_flight() == 0);
  }
  Check(calls == 1);
}

void FuzzBus(std::string_view response) {
  EventLoop loop;
  ScriptedServer server(loop, response);
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
