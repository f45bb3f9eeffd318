// A non-blocking TCP connection carrying newline-terminated lines, driven by
// the event loop: the wire of the fake control and DERP protocols (one JSON
// object per line; what matters is that every byte crosses the real kernel).
#ifndef TSWATCHDOG_TESTS_FAKE_LINE_CONN_H_
#define TSWATCHDOG_TESTS_FAKE_LINE_CONN_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "netlink/unique_fd.h"
#include "watchdog/io/event_loop.h"

namespace fake {

class LineConn {
 public:
  struct Callbacks {
    std::function<void()> connected;                     // dials only
    std::function<void(const std::string&)> line;        // without "\n"
    std::function<void(const std::string& why)> closed;  // by the peer/kernel
  };

  // Takes `fd`; `connecting`: a dial whose connect() is in progress.
  LineConn(watchdog::EventLoop& loop, netlink::UniqueFd fd, bool connecting,
           Callbacks callbacks);
  LineConn(const LineConn&) = delete;
  LineConn& operator=(const LineConn&) = delete;
  // Closes the socket without calling `closed`.
  ~LineConn();

  // Closes the socket now; no callback runs after this.
  void Close();
  // Queues `line` + "\n" (sent as the kernel takes it).
  void Send(const std::string& line);
  int fd() const { return fd_.get(); }
  bool connected() const { return !connecting_; }
  const std::string& local() const { return local_; }
  const std::string& remote() const { return remote_; }
  // Bytes queued in userspace, not yet given to the kernel.
  size_t pending() const { return out_.size(); }

 private:
  void OnEvents(uint32_t events);
  // Each returns false once `this` may be gone (a callback ran that can
  // destroy it) or the connection is closed.
  bool FinishConnect();
  bool ReadLines();
  bool DeliverLines();
  bool Flush();
  void Fail(const std::string& why);
  void UpdateInterest();

  watchdog::EventLoop& loop_;
  netlink::UniqueFd fd_;
  bool connecting_;
  Callbacks callbacks_;
  std::string in_;
  std::string out_;
  std::string local_;
  std::string remote_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// What the event log says of a dialed connection that ends: local,
// remote (`server` until connected), why, lived_ms since `dialed_ms`.
nlohmann::ordered_json ClosedFields(const LineConn& conn,
                                    const std::string& server,
                                    const std::string& why, int64_t dialed_ms);
// state (none, connecting, connected), local, remote, and the socket's
// kernel options, of a connection that may be absent.
nlohmann::ordered_json DescribeConn(const LineConn* conn);

// Destroys `conn` on the next loop turn: safe from inside its callbacks.
void DestroyLater(watchdog::EventLoop& loop, std::unique_ptr<LineConn> conn);

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_LINE_CONN_H_
