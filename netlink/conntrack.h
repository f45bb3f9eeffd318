// The `conntrack` ladder step's two halves: which uplink source addresses are
// "old" (pure bookkeeping over uplink views), and deleting the kernel's
// conntrack entries bound to them (libnl-nf, ctnetlink).
//
// Why: on a router that masquerades over wan0, UDP flows (tailscaled's own
// WireGuard/STUN/DERP sockets, LAN clients' flows) have conntrack entries whose
// NAT binding is wan0's address. After a failover to wan1 the traffic keeps
// refreshing them, so packets keep being SNATed to the dead address until the
// entries time out. Deleting them lets the next packet create a fresh entry
// on the new uplink.
#ifndef TSWATCHDOG_NETLINK_CONNTRACK_H_
#define TSWATCHDOG_NETLINK_CONNTRACK_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlink/address.h"
#include "netlink/sock_diag.h"
#include "netlink/uplink.h"

namespace netlink {

// A source address an earlier usable uplink had, and that uplink's device.
struct OldSource {
  IpAddress address;
  std::string dev;
  bool operator==(const OldSource&) const = default;
};

// Remembers the source addresses of earlier usable uplinks (per family) that
// differ from the current ones. Pure: the daemon feeds it every view.
//
// An address stops being old when it becomes current again (failback), and
// all are forgotten when tailscaled is verified healthy (Forget): from then
// on tailscaled's flows are fine, and an address that is still up (mwan3 load
// balancing keeps LAN flows on it) must not lose its entries at the next,
// unrelated recovery. At most kMaxPerFamily addresses per family are kept,
// newest first, so a flapping link cannot grow the list.
class OldSources {
 public:
  static constexpr size_t kMaxPerFamily = 4;

  // Records `view`: a usable egress whose source differs from the last usable
  // one of its family makes that earlier source old. An unusable egress
  // changes nothing (the step never runs without an uplink).
  void Observe(const UplinkView& view);
  // Tailscaled was verified healthy: nothing is old any more.
  void Forget() { old_.clear(); }
  // Newest first; never holds a current source.
  const std::vector<OldSource>& old() const { return old_; }

 private:
  std::optional<OldSource> current_[2];  // by Family
  std::vector<OldSource> old_;
};

// The two addresses of a conntrack entry that bind it to an uplink.
struct ConntrackTuple {
  std::optional<IpAddress> orig_src;   // who started the flow
  std::optional<IpAddress> reply_dst;  // where replies go: the SNAT address
};

// What we read of a conntrack entry.
struct ConntrackEntry {
  ConntrackTuple tuple;
  uint8_t protocol = 0;  // IPPROTO_TCP, IPPROTO_UDP, ...
  std::optional<IpAddress> orig_dst;
  uint16_t orig_sport = 0;
  uint16_t orig_dport = 0;
  uint32_t mark = 0;  // ctmark (mwan3 keeps its WAN's mark here)
};

// The old source an entry is bound to, or nullopt. Bound to A: its
// original-direction source is A (router-originated flows, such as
// tailscaled's own UDP socket) or its reply-direction destination is A
// (flows SNATed or masqueraded to A). Both families.
std::optional<size_t> BoundTo(const ConntrackTuple& entry,
                              std::span<const OldSource> old);

// Mode B (mwan3, tailscaled's rules at 5210): one of tailscaled's flows as
// its socket shows it, i.e. the original direction of its conntrack entries
// (its own packets start them). An unconnected UDP socket (magicsock's)
// matches every remote; a wildcard-bound one (0.0.0.0:41641) every local
// address the kernel picked.
struct FlowSelector {
  uint8_t protocol = 0;
  std::optional<IpAddress> local_address;  // nullopt: wildcard
  uint16_t local_port = 0;
  std::optional<IpAddress> remote_address;  // nullopt: any remote
  uint16_t remote_port = 0;                 // with remote_address
  bool operator==(const FlowSelector&) const = default;
};

// The flows of sockets from a sock_diag dump (TCP and UDP).
std::vector<FlowSelector> FlowsOfSockets(std::span<const SocketRecord> sockets);

// ctmark & mask == value: mwan3's WAN `id` is
// {Mwan3IdToMark(id, 0x3f00), 0x3f00}.
struct CtMarkMatch {
  uint32_t value = 0;
  uint32_t mask = 0;
};

// The first of `flows` that an entry carrying `mark` belongs to.
std::optional<size_t> MatchingFlow(const ConntrackEntry& entry,
                                   std::span<const FlowSelector> flows,
                                   CtMarkMatch mark);
// Whether an entry is one of `flows` and carries `mark`.
bool MatchesFlow(const ConntrackEntry& entry,
                 std::span<const FlowSelector> flows, CtMarkMatch mark);

struct ConntrackOptions {
  bool dry_run = false;  // count the matches, delete nothing
  // Bounds on one run, so that the event loop is never blocked for long:
  // entries read from the kernel's table (the dump stops there) and entries
  // deleted (the rest wait for the next run).
  size_t max_examined = 262144;
  size_t max_deleted = 8192;
};

struct ConntrackResult {
  std::string error;            // the run failed early (socket, dump)
  size_t examined = 0;          // entries read from the kernel
  std::vector<size_t> matched;  // per old source (index into `old`)
  std::vector<size_t> deleted;  // per old source; zeros in a dry run
  size_t failed = 0;            // deletions the kernel refused
  std::string failure;          // why the first refused deletion failed
  bool truncated = false;       // a bound was hit: entries may be left
  std::chrono::microseconds took{0};

  size_t total_matched() const;
  size_t total_deleted() const;
};

// Deletes (or, dry run, counts) the conntrack entries bound to `old` in this
// network namespace. Blocking, but bounded (see ConntrackOptions). An entry
// that vanished between the dump and the delete (timed out) is not a failure.
// Needs CAP_NET_ADMIN and the kernel's nf_conntrack_netlink; without
// TSWATCHDOG_WITH_CONNTRACK (a build without libnl-nf) it returns an error.
ConntrackResult DeleteConntrackBoundTo(std::span<const OldSource> old,
                                       const ConntrackOptions& options);

// Mode B's cleanup: deletes (or counts) the entries of `flows` that carry
// `mark`, and no other; never the whole table (mwan3's own flush_conntrack
// does that). The result has one bucket per flow (matched[i], deleted[i]:
// the entries of flows[i]; an entry counts for the first flow it matches).
ConntrackResult DeleteConntrackFlows(std::span<const FlowSelector> flows,
                                     CtMarkMatch mark,
                                     const ConntrackOptions& options);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_CONNTRACK_H_
