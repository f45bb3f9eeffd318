// Routes and rules as the kernel reports them, built for tests of the pure
// mwan3 and steering code (core_tests, daemon_tests).
#ifndef TSWATCHDOG_TESTS_CORE_KERNEL_MESSAGES_H_
#define TSWATCHDOG_TESTS_CORE_KERNEL_MESSAGES_H_

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "netlink/messages.h"

namespace watchdog::testing {

// A default route in `table` via `gw` out of interface `oif`.
inline netlink::RouteMessage DefaultRoute(
    int32_t oif, const char* gw, uint32_t metric,
    uint32_t table = RT_TABLE_MAIN, uint8_t protocol = RTPROT_STATIC,
    netlink::Family family = netlink::Family::kV4) {
  netlink::RouteMessage r;
  r.family = family;
  r.table = table;
  r.type = RTN_UNICAST;
  r.protocol = protocol;
  r.scope = RT_SCOPE_UNIVERSE;
  r.oif = oif;
  r.gateway = netlink::IpAddress::Parse(gw);
  r.priority = metric;
  return r;
}

// An ip rule; `mask` 0: no fwmark match.
inline netlink::RuleMessage Rule(
    uint32_t priority, uint32_t table, uint32_t mark = 0, uint32_t mask = 0,
    const char* iif = "", uint8_t action = FR_ACT_TO_TBL,
    netlink::Family family = netlink::Family::kV4) {
  netlink::RuleMessage r;
  r.family = family;
  r.priority = priority;
  r.table = table;
  if (mask != 0) {
    r.fwmark = mark;
    r.fwmask = mask;
  }
  r.iifname = iif;
  r.action = action;
  return r;
}

}  // namespace watchdog::testing

#endif  // TSWATCHDOG_TESTS_CORE_KERNEL_MESSAGES_H_
