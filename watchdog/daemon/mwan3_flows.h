// Mode B's cleanup on the real kernel: tailscaled's sockets over sock_diag
// (TCP and UDP, both families, found by its mark 0x80000, filtered in the
// kernel), their flows, and the conntrack entries of those flows that carry
// the dead WAN's mwan3 mark (netlink::DeleteConntrackFlows); nothing else,
// never the whole table. Blocking, but bounded like the conntrack step.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_FLOWS_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_FLOWS_H_

#include <optional>
#include <vector>

#include "watchdog/core/mwan3_follow.h"

namespace watchdog {

// Deletes (dry run: counts) them. Needs CAP_NET_ADMIN; errors (no sock_diag,
// no ctnetlink) come back in FlowCleanupReport::error.
FlowCleanupReport CleanTailscaledFlows(const FlowCleanupOrder& order,
                                       bool dry_run);

// tailscaled's established TCP connections now (by its mark); nullopt when
// sock_diag fails.
std::optional<std::vector<MovedConnection>> EstablishedTailscaledTcp();

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_FLOWS_H_
