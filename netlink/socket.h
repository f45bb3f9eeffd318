// The kernel seam of netlink/: one small class around a NETLINK_ROUTE socket
// (or another netlink protocol: NETLINK_SOCK_DIAG), opened and bound through
// libmnl. Everything else in netlink/ is pure and
// works on bytes. Failures to set the socket up throw std::system_error with
// errno and context; receive errors are returned as values.
#ifndef TSWATCHDOG_NETLINK_SOCKET_H_
#define TSWATCHDOG_NETLINK_SOCKET_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

struct mnl_socket;

namespace netlink {

class RtnlSocket {
 public:
  // Opens and binds a netlink socket (NETLINK_ROUTE = 0 unless `protocol`
  // says otherwise) with a kernel-chosen port id.
  static RtnlSocket Open(bool nonblocking, int protocol = 0);

  RtnlSocket(RtnlSocket&&) noexcept;
  RtnlSocket& operator=(RtnlSocket&&) noexcept;
  ~RtnlSocket();

  void JoinGroup(unsigned group);  // RTNLGRP_*
  // Sets SO_RCVBUF; as root also SO_RCVBUFFORCE so net.core.rmem_max does not
  // cap it. Returns the size the kernel reports afterwards.
  int SetReceiveBuffer(int bytes);
  int ReceiveBuffer() const;
  void SetReceiveTimeout(std::chrono::milliseconds timeout);
  void AttachFilter(const std::vector<sock_filter>& program);

  void Send(std::span<const uint8_t> message);
  // Receives one datagram into `buffer`. Returns its size, or a negative errno
  // (-EAGAIN when a nonblocking socket is empty, -ENOBUFS after an overrun,
  // -ENOSPC when the datagram did not fit). Datagrams not sent by the kernel
  // are dropped and reported as -EPERM.
  ssize_t Receive(std::span<uint8_t> buffer);

  int fd() const;
  uint32_t port() const;

 private:
  explicit RtnlSocket(mnl_socket* socket);
  struct Closer {
    void operator()(mnl_socket* socket) const;
  };
  std::unique_ptr<mnl_socket, Closer> socket_;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_SOCKET_H_
