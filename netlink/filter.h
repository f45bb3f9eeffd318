// The classic BPF program attached to the event socket. It drops, inside the
// kernel, route notifications for prefixes longer than kMaxUplinkPrefixV4/V6:
// they cannot carry the uplink, and a routing daemon churning a full table
// would otherwise wake us for every one. Everything else passes.
//
// A socket filter sees only the first message of a multi-message datagram;
// that is fine here because the kernel sends each notification in its own
// datagram. Dumps (many messages per datagram) use a separate, unfiltered
// socket.
#ifndef TSWATCHDOG_NETLINK_FILTER_H_
#define TSWATCHDOG_NETLINK_FILTER_H_

#include <linux/filter.h>

#include <vector>

namespace netlink {

std::vector<sock_filter> BuildUplinkEventFilter();

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_FILTER_H_
