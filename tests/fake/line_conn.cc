#include "tests/fake/line_conn.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "tests/fake/event_log.h"
#include "tests/fake/net_util.h"

namespace fake {

LineConn::LineConn(watchdog::EventLoop& loop, netlink::UniqueFd fd,
                   bool connecting, Callbacks callbacks)
    : loop_(loop),
      fd_(std::move(fd)),
      connecting_(connecting),
      callbacks_(std::move(callbacks)) {
  // The kernel chose the source address at connect(): it is known now.
  local_ = LocalAddress(fd_.get());
  remote_ = PeerAddress(fd_.get());
  loop_.WatchFd(fd_.get(), EPOLLIN | (connecting_ ? uint32_t{EPOLLOUT} : 0u),
                [this](uint32_t events) { OnEvents(events); });
}

LineConn::~LineConn() {
  *alive_ = false;
  if (fd_) loop_.UnwatchFd(fd_.get());
}

void LineConn::Close() {
  if (!fd_) return;
  loop_.UnwatchFd(fd_.get());
  fd_.Reset();
}

void LineConn::Send(const std::string& line) {
  if (!fd_) return;
  out_ += line;
  out_ += '\n';
  if (!connecting_) Flush();
}

void LineConn::OnEvents(uint32_t events) {
  if (!fd_) return;
  if (connecting_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (!FinishConnect()) return;
  }
  if ((events & EPOLLOUT) && !Flush()) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ReadLines();
}

bool LineConn::FinishConnect() {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    Fail("connect: " + ReadErrorName(err));
    return false;
  }
  connecting_ = false;
  remote_ = PeerAddress(fd_.get());
  local_ = LocalAddress(fd_.get());
  UpdateInterest();
  std::weak_ptr<bool> alive = alive_;
  if (callbacks_.connected) callbacks_.connected();
  if (alive.expired() || !*alive.lock() || !fd_) return false;
  return Flush();
}

bool LineConn::ReadLines() {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    // Deliver what came before the end, then report it.
    const int err = n == 0 ? 0 : errno;
    if (DeliverLines()) Fail(ReadErrorName(err));
    return false;
  }
  return DeliverLines();
}

bool LineConn::DeliverLines() {
  std::weak_ptr<bool> alive = alive_;
  for (size_t nl; (nl = in_.find('\n')) != std::string::npos;) {
    std::string line = in_.substr(0, nl);
    in_.erase(0, nl + 1);
    if (callbacks_.line) callbacks_.line(line);
    if (alive.expired() || !*alive.lock() || !fd_) return false;
  }
  return true;
}

bool LineConn::Flush() {
  if (!fd_) return false;
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    Fail(ReadErrorName(n < 0 ? errno : 0));
    return false;
  }
  UpdateInterest();
  return true;
}

void LineConn::UpdateInterest() {
  if (!fd_) return;
  const bool want_out = connecting_ || !out_.empty();
  loop_.ModifyFd(fd_.get(), EPOLLIN | (want_out ? uint32_t{EPOLLOUT} : 0u));
}

void LineConn::Fail(const std::string& why) {
  loop_.UnwatchFd(fd_.get());
  fd_.Reset();
  if (callbacks_.closed) callbacks_.closed(why);
}

nlohmann::ordered_json ClosedFields(const LineConn& conn,
                                    const std::string& server,
                                    const std::string& why, int64_t dialed_ms) {
  return {{"local", conn.local()},
          {"remote", conn.remote().empty() ? server : conn.remote()},
          {"why", why},
          {"lived_ms", UnixMillis() - dialed_ms}};
}

nlohmann::ordered_json DescribeConn(const LineConn* conn) {
  nlohmann::ordered_json out;
  out["state"] = !conn               ? "none"
                 : conn->connected() ? "connected"
                                     : "connecting";
  out["local"] = conn ? conn->local() : "";
  out["remote"] = conn ? conn->remote() : "";
  if (conn && conn->fd() >= 0) out["socket"] = SocketOptions(conn->fd());
  return out;
}

void DestroyLater(watchdog::EventLoop& loop, std::unique_ptr<LineConn> conn) {
  if (!conn) return;
  std::shared_ptr<LineConn> doomed(std::move(conn));
  loop.AddTimerAfter(std::chrono::milliseconds(0), [doomed] {});
}

}  // namespace fake
