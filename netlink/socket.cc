#include "netlink/socket.h"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace netlink {
namespace {

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), "netlink: " + what);
}

}  // namespace

void RtnlSocket::Closer::operator()(mnl_socket* socket) const {
  mnl_socket_close(socket);
}

RtnlSocket::RtnlSocket(mnl_socket* socket) : socket_(socket) {}
RtnlSocket::RtnlSocket(RtnlSocket&&) noexcept = default;
RtnlSocket& RtnlSocket::operator=(RtnlSocket&&) noexcept = default;
RtnlSocket::~RtnlSocket() = default;

RtnlSocket RtnlSocket::Open(bool nonblocking, int protocol) {
  int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  mnl_socket* raw = mnl_socket_open2(protocol, flags);
  if (raw == nullptr) {
    ThrowErrno(protocol == NETLINK_ROUTE ? std::string("socket(NETLINK_ROUTE)")
                                         : "socket(netlink protocol " +
                                               std::to_string(protocol) + ")");
  }
  RtnlSocket socket(raw);
  // Port id 0: the kernel picks a unique one (a fixed pid-based id collides
  // across PID namespaces, Chromium crbug 1224428).
  if (mnl_socket_bind(raw, 0, MNL_SOCKET_AUTOPID) < 0) ThrowErrno("bind");
  return socket;
}

void RtnlSocket::JoinGroup(unsigned group) {
  int value = static_cast<int>(group);
  if (mnl_socket_setsockopt(socket_.get(), NETLINK_ADD_MEMBERSHIP, &value,
                            sizeof value) < 0) {
    ThrowErrno("join multicast group " + std::to_string(group));
  }
}

int RtnlSocket::SetReceiveBuffer(int bytes) {
  // SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it SO_RCVBUF is capped by
  // net.core.rmem_max, which is still better than nothing.
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 &&
      setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) {
    ThrowErrno("SO_RCVBUF " + std::to_string(bytes));
  }
  return ReceiveBuffer();
}

int RtnlSocket::ReceiveBuffer() const {
  int value = 0;
  socklen_t len = sizeof value;
  getsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &value, &len);
  return value;
}

void RtnlSocket::SetReceiveTimeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    ThrowErrno("SO_RCVTIMEO");
  }
}

void RtnlSocket::AttachFilter(const std::vector<sock_filter>& program) {
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.size());
  fprog.filter = const_cast<sock_filter*>(program.data());
  if (setsockopt(fd(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) <
      0) {
    ThrowErrno("SO_ATTACH_FILTER");
  }
}

void RtnlSocket::Send(std::span<const uint8_t> message) {
  if (mnl_socket_sendto(socket_.get(), message.data(), message.size()) < 0) {
    ThrowErrno("send");
  }
}

ssize_t RtnlSocket::Receive(std::span<uint8_t> buffer) {
  sockaddr_nl from{};
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = recvmsg(fd(), &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (msg.msg_flags & MSG_TRUNC) return -ENOSPC;
  // Only the kernel (port 0) speaks for the routing state (as sd-netlink does).
  if (msg.msg_namelen != sizeof from || from.nl_pid != 0) return -EPERM;
  return n;
}

int RtnlSocket::fd() const { return mnl_socket_get_fd(socket_.get()); }
uint32_t RtnlSocket::port() const {
  return mnl_socket_get_portid(socket_.get());
}

}  // namespace netlink
