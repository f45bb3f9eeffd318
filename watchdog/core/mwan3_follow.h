// Following mwan3 (pure): what changed in its view since the last look,
// what to log (old -> new, and why), which WANs' flows of tailscaled's to
// clean up in mode B, and when a steering plan must wait. The daemon's
// Mwan3Agent (watchdog/daemon/mwan3_agent.h) reads the view, calls these and
// carries out what they say.
//
// Mode B (tailscaled's rules at 5210, behind mwan3's): mwan3's
// `disconnected` rebuilds only its policy chains (lib/mwan3/mwan3.sh), so a
// flow of tailscaled's that began on the dead WAN keeps that WAN's mark in
// its conntrack entry (CONNMARK --restore-mark in mwan3_hook) and stays on
// it; UDP that keeps sending keeps its entry alive for good. Deleting the
// entries of tailscaled's flows with the dead WAN's mark lets the next packet
// take mwan3's policy afresh: UDP moves at once. A TCP connection does not
// survive the move: its next packet leaves by the live WAN, is masqueraded
// to another address, and the far side (which has no such connection) drops
// or resets it. So the evidence names tailscaled's TCP connections that were
// on the dead WAN: the control connection among them needs a fresh dial
// (POST start), which the diagnosis decides.
//
// Unknown is never acted on: a status file that is unreadable or caught
// mid-write makes that WAN "unknown"; a cleanup fires only on a change to
// offline from a known other state, and a steering plan waits (SteeringHold).
#ifndef TSWATCHDOG_WATCHDOG_CORE_MWAN3_FOLLOW_H_
#define TSWATCHDOG_WATCHDOG_CORE_MWAN3_FOLLOW_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlink/address.h"
#include "netlink/sock_diag.h"
#include "watchdog/core/connections.h"
#include "watchdog/core/diagnosis.h"
#include "watchdog/core/mwan3.h"
#include "watchdog/core/steering.h"
#include "watchdog/core/time.h"

namespace watchdog {

// The config keys mwan3_steering and mwan3_flow_cleanup; both act only
// where mwan3 is present.
struct Mwan3Settings {
  bool steering = true;      // mode A: steer tailscaled to a live WAN
  bool flow_cleanup = true;  // mode B: delete its flows' entries on a dead WAN
  bool dry_run = false;      // log what would be done, change nothing
  // How long after a steering change tailscaled counts as handling it (its
  // netmon redials at once; the daemon's debounce + grace).
  std::chrono::milliseconds handling{std::chrono::seconds(25)};
  bool operator==(const Mwan3Settings&) const = default;
};

// What the follower remembers between two looks.
struct Mwan3Memory {
  bool seen = false;  // a view was looked at
  bool present = false;
  TailscaleRuleMode mode = TailscaleRuleMode::kNone;
  uint32_t tailscale_base = 0;
  // The last known (not unknown) state of each WAN, by Mwan3Key.
  std::map<std::string, WanState> known;
};

// A WAN's name, or "id N" for one not in the config order.
std::string Mwan3Key(const Mwan3Wan& wan);

// Mode B: delete the conntrack entries of tailscaled's flows whose ct mark,
// under `mask`, is `mark` (the dead WAN's).
struct FlowCleanupOrder {
  std::string wan;  // Mwan3Wan::Label()
  uint32_t id = 0;
  uint32_t mark = 0;
  uint32_t mask = 0;
  std::string why;
  bool operator==(const FlowCleanupOrder&) const = default;
};

struct Mwan3Follow {
  std::vector<std::string> changes;  // for the log: "old -> new: why"
  std::vector<FlowCleanupOrder> cleanups;
};

// Compares `view` with `memory` (and updates it).
Mwan3Follow FollowMwan3(const Mwan3View& view, const Mwan3Settings& settings,
                        Mwan3Memory* memory);

// Why steering of `family` must not change now: mode A, steering on, and a
// WAN of that family with mwan3 rules whose state is unknown (its iface_state
// unreadable, or caught mid-write). nullopt: go ahead with the plan.
std::optional<std::string> SteeringHold(const Mwan3View& view,
                                        netlink::Family family,
                                        const Mwan3Settings& settings);

// One of tailscaled's TCP connections whose flow was on the dead WAN.
struct MovedConnection {
  netlink::SocketEndpoint local;
  netlink::SocketEndpoint remote;
  // By port, among tailscaled's TCP sockets at the cleanup
  // (ClassifyConnections without a DERP map: port 80, or 443 without a
  // port-80 connection, is control).
  ConnectionKind kind = ConnectionKind::kOther;
  // Its handshake was done at the cleanup (ESTABLISHED); false: still
  // connecting (SYN-SENT), e.g. the fresh dial of a `start`.
  bool established = true;
  bool operator==(const MovedConnection&) const = default;
};

// Of the TCP connections whose conntrack entry with the dead WAN's mark was
// deleted, those that are dead now: the established ones. One still in its
// handshake is not: the far side holds no state for it, and its next SYN,
// with a new conntrack entry, takes the live WAN and that WAN's NAT, as a
// fresh flow (scenario (d): `start`'s new dial connected over wanb right
// after the cleanup, the finding went on calling it dead, and the ladder
// restarted a healthy tailscaled).
std::vector<MovedConnection> DeadAfterCleanup(
    std::span<const MovedConnection> matched);

// What a mode-B cleanup found and did.
struct FlowCleanupReport {
  FlowCleanupOrder order;
  MonoTime at{};
  bool dry_run = false;
  size_t sockets = 0;  // tailscaled's sockets found (by its mark)
  size_t matched = 0;  // entries with the dead WAN's mark
  size_t deleted = 0;  // of those, deleted (0 in a dry run)
  std::string error;   // the cleanup failed (sock_diag, conntrack)
  // tailscaled's TCP connections that were on the dead WAN: dead now (see
  // the header comment); the diagnosis tells control from DERP.
  std::vector<MovedConnection> tcp_on_dead_wan;

  // "deleted 3 entries of tailscaled's flows with wan (wan0)'s mark 0x100;
  // its TCP connections on wan: 198.51.100.2:41234 -> 192.0.2.100:80"
  std::string Describe() const;
};

// The findings for the diagnosis (core/diagnosis.h) from the last mode-B
// cleanup: of its TCP connections on the dead WAN, those still established
// (`still_there`), as control or DERP (as the last connection check judged
// them, else by port): kControlPathDead, kDerpPathDead, with the evidence.
std::vector<Finding> FlowCleanupFindings(
    const FlowCleanupReport& report,
    std::span<const MovedConnection> still_there,
    std::span<const JudgedConnection> judged);

// The finding while tailscaled redials after a steering change (mode A):
// kHandling, nothing disruptive meanwhile.
Finding SteeringFinding(const std::string& change);

// Those of `moved` that are among `established` (by endpoints).
std::vector<MovedConnection> StillEstablished(
    std::span<const MovedConnection> moved,
    std::span<const MovedConnection> established);

// What the agent shows (state file, status, metrics).
struct Mwan3Status {
  Mwan3View view;
  Mwan3Settings settings;
  // Our steering routes now in the kernel's main table, and why (per
  // family, the last plan's reason).
  std::vector<SteeringRoute> steering;
  std::map<netlink::Family, std::string> steering_why;
  std::optional<FlowCleanupReport> last_cleanup;
  std::vector<std::string> problems;  // "PATH: error" of mwan3's files
  uint64_t routes_added = 0;
  uint64_t routes_removed = 0;
  uint64_t cleanups = 0;
  uint64_t entries_deleted = 0;
};

// Mode A with steering on and no steering route yet: tailscaled's traffic
// follows the main table, so a new control connection (`start`) would take
// the same WAN; only mwan3's verdict, and the steering route it brings,
// moves it. kHandling (wait for mwan3 rather than `start` on a dead control
// connection); nullopt in any other case.
std::optional<Finding> ModeAWaitFinding(const Mwan3Status& status);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_MWAN3_FOLLOW_H_
