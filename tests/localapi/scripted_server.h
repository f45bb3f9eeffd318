// A LocalAPI peer that says exactly what a test scripts: a Unix socket
// server, driven by the test's own event loop (one thread, no sleeps), that
// answers every connection with the same bytes, byte for byte, and closes.
// For replies the fake tailscaled would never send: broken HTTP, hostile
// headers and bodies (the LocalAPI fuzzer and the hostile-peer tests).
#ifndef TSWATCHDOG_TESTS_LOCALAPI_SCRIPTED_SERVER_H_
#define TSWATCHDOG_TESTS_LOCALAPI_SCRIPTED_SERVER_H_

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "netlink/unique_fd.h"
#include "watchdog/io/event_loop.h"

namespace scripted {

// A listening socket in a fresh temp directory, removed with it.
struct Listener {
  std::string dir;
  std::string path;
  netlink::UniqueFd fd;

  Listener() {
    char dir_template[] = "/tmp/tsw-scripted-XXXXXX";
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
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
};

// Answers every connection on `listener` with `response`: reads the request
// head (a GET has no body; closing with unread bytes would reset the
// connection), writes the bytes as far as the client takes them, closes
// (or, with `keep_open`, waits for the client to close first).
class ScriptedServer {
 public:
  ScriptedServer(watchdog::EventLoop& loop, const Listener& listener,
                 std::string_view response, bool keep_open = false)
      : loop_(loop),
        listen_fd_(listener.fd.get()),
        response_(response),
        keep_open_(keep_open) {
    loop_.WatchFd(listen_fd_, EPOLLIN, [this](uint32_t) {
      for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        conns_[fd].fd.Reset(fd);
        loop_.WatchFd(fd, EPOLLIN, [this, fd](uint32_t) { OnReady(fd); });
      }
    });
  }
  ~ScriptedServer() {
    loop_.UnwatchFd(listen_fd_);
    for (auto& [fd, conn] : conns_) loop_.UnwatchFd(fd);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  int connections_answered() const { return answered_; }

 private:
  struct Conn {
    netlink::UniqueFd fd;
    std::string request;
    size_t written = 0;
    bool writing = false;
    bool kept = false;  // all written, the connection left open
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
    if (keep_open_ && conn.written == response_.size() && !conn.kept) {
      conn.kept = true;
      loop_.ModifyFd(fd, 0);  // EPOLLHUP still says when the client closes
      return;
    }
    Close(fd);
  }

  void Close(int fd) {
    loop_.UnwatchFd(fd);
    conns_.erase(fd);
  }

  watchdog::EventLoop& loop_;
  int listen_fd_;
  std::string_view response_;
  bool keep_open_;
  std::map<int, Conn> conns_;
  int answered_ = 0;
};

}  // namespace scripted

#endif  // TSWATCHDOG_TESTS_LOCALAPI_SCRIPTED_SERVER_H_
