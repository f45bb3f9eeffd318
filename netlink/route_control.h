// Adding and deleting single routes over rtnetlink, each acknowledged by the
// kernel: the kernel seam of mode-A steering. The request builder is pure;
// RouteControl sends it and waits for the ack (blocking, with a timeout).
//
// A delete names the route completely (table, prefix, metric, protocol,
// gateway, device): the kernel removes only a route that matches all of
// them (net/ipv4/fib_trie.c fib_table_delete, rtm_protocol included when
// nonzero), so deleting one of ours can never take another route with it.
#ifndef TSWATCHDOG_NETLINK_ROUTE_CONTROL_H_
#define TSWATCHDOG_NETLINK_ROUTE_CONTROL_H_

#include <chrono>
#include <cstdint>
#include <vector>

#include "netlink/messages.h"
#include "netlink/socket.h"

namespace netlink {

// RTM_NEWROUTE (create, never replace) or RTM_DELROUTE for `route`, asking
// for an ack.
std::vector<uint8_t> BuildRouteChange(bool add, const RouteMessage& route,
                                      uint32_t seq);

class RouteControl {
 public:
  // Throws std::system_error when the socket cannot be opened.
  explicit RouteControl(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

  // 0, or the errno the kernel answered (EEXIST, ESRCH, ENETUNREACH, ...;
  // EAGAIN on timeout).
  int Add(const RouteMessage& route);
  int Delete(const RouteMessage& route);

 private:
  int Change(bool add, const RouteMessage& route);

  RtnlSocket socket_;
  uint32_t seq_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_ROUTE_CONTROL_H_
