// The diagnosis (issue 12): what is wrong with tailscaled, from the kernel's
// evidence about its connections, from what other parts of the daemon found
// (mwan3's view) and from tailscaled's own word, and which ladder steps can
// fix it. Pure: table-tested, no I/O, no clock.
//
// What each step fixes is tailscaled's, read in its sources
// (docs/tailscaled-behaviour.md, section 5):
// - `debug?action=rebind` re-checks DERP (magicsock Rebind); it never touches
//   the control connection.
// - `POST start` is the only LocalAPI call that replaces the control
//   connection (ipn/ipnlocal/local.go startLocked: Direct.Close and a new
//   control client).
// - `reup` (WantRunning false -> true) rebuilds routes, DNS, WireGuard and
//   DERP, but only pauses the control client and resumes it on the same
//   connection (controlclient SetPaused).
// - a restart fixes everything, and is the only help when the LocalAPI does
//   not answer.
#ifndef TSWATCHDOG_WATCHDOG_CORE_DIAGNOSIS_H_
#define TSWATCHDOG_WATCHDOG_CORE_DIAGNOSIS_H_

#include <optional>
#include <string>
#include <vector>

#include "netlink/sock_diag.h"
#include "watchdog/core/connection_verdict.h"
#include "watchdog/core/connections.h"
#include "watchdog/core/health.h"
#include "watchdog/core/ladder.h"

namespace watchdog {

// What is wrong, as far as choosing a step goes. The order is the order of
// precedence when several are found: the first one is fixed first.
enum class Fault {
  kLocalApi,  // the LocalAPI does not answer: only `restart`
  kControl,   // the control connection is dead, or tailscaled is out of its
              // map poll: `start`
  kRouter,    // route programming failed (tailscaled's `router` warning):
              // `reup`
  kDerp,      // DERP alone: `rebind`
};

// "localapi", "control", "router", "derp" (logs, state file, metrics).
const char* FaultName(Fault fault);

// A finding another component of the daemon contributes to the diagnosis
// (mwan3's view of tailscaled's paths, issue 12 item 3), with its evidence in
// words. Daemon::SetFindings replaces a source's findings as a whole.
struct Finding {
  enum class Kind {
    // The path that carries tailscaled's control connection is dead (mwan3
    // mode B: the WAN whose mark its flow carries is offline per mwan3):
    // the connection is dead even if its socket does not show it yet.
    kControlPathDead,
    // The same for its DERP connection.
    kDerpPathDead,
    // tailscaled is being moved to a working path, or is redialing on one
    // (mwan3 mode A: the steering route was just added): nothing disruptive.
    kHandling,
  };
  Kind kind = Kind::kHandling;
  std::string source;    // "mwan3"
  std::string evidence;  // "wan (wan0) offline per mwan3; control ... carries
                         // its mark 0x100"
  bool operator==(const Finding&) const = default;
};

// One of tailscaled's TCP connections at the last check.
struct JudgedConnection {
  ConnectionKind kind = ConnectionKind::kOther;
  Verdict verdict = Verdict::kUnknown;
  std::string evidence;  // "control A -> B: 3 retransmissions unanswered, ..."
  // Not there when the last uplink change began: dialed since.
  bool new_since_change = false;
  // Its endpoints and cookie, for components that relate it to their own
  // view (mwan3 mode B: which WAN's mark its conntrack entry carries).
  netlink::SocketEndpoint local;
  netlink::SocketEndpoint remote;
  uint64_t cookie = 0;
  bool operator==(const JudgedConnection&) const = default;
};

// What the daemon knows from outside tailscaled at the last check.
struct Evidence {
  // A complete socket dump was judged. False: the dump failed or was
  // truncated (the daemon logs why once); the diagnosis then rests on
  // tailscaled's word and the findings, as before issue 12.
  bool known = false;
  std::vector<JudgedConnection> connections;
  std::vector<Finding> findings;
  bool operator==(const Evidence&) const = default;
};

struct Diagnosis {
  // The fault to fix first; nullopt: none that a step choice can use (no
  // evidence, or nothing wrong).
  std::optional<Fault> fault;
  // Seen from outside tailscaled (a dead socket, an mwan3 finding), not only
  // reported by it: the machine may act without waiting for tailscaled to
  // notice (`unhealthy_after`, the rest of `grace`).
  bool confirmed = false;
  // tailscaled noticed a failover and is handling it: its control connection
  // was redialed since the uplink change and is not dead, or a finding says
  // so. Nothing disruptive (nor `start`) runs meanwhile.
  bool handling = false;
  // The evidence in words, most important first; "" when there is none.
  std::string why;

  // "control (confirmed): control A -> B: ..." or "no fault found".
  std::string Describe() const;
  bool operator==(const Diagnosis&) const = default;
};

// The diagnosis from the evidence and tailscaled's verdict (nullopt: none
// yet). Rules, in order:
// 1. The LocalAPI does not answer: kLocalApi.
// 2. A control connection that is dead (and no other control connection
//    live), or a kControlPathDead finding: kControl, confirmed.
// 3. tailscaled's `router` warning: kRouter.
// 4. tailscaled out of its map poll (Self.Online false, not-in-map-poll,
//    mapresponse-timeout): kControl; unless its control connection was
//    redialed since the uplink change and is not dead: then it is handling
//    it.
// 5. A dead DERP connection (none live) or a kDerpPathDead finding: kDerp,
//    confirmed; DERP warnings (no-derp-home, no-derp-connection,
//    derp-timed-out): kDerp.
// A kHandling finding, or a live control connection dialed since the change
// while tailscaled is not healthy, sets `handling`.
Diagnosis Diagnose(const Evidence& evidence,
                   const std::optional<HealthVerdict>& verdict);

// nullopt when `step` can fix `fault`; else why not, in words ("rebind does
// not touch the control connection"). `conntrack` is never ruled out: it is
// opt-in, acts on NAT state none of these faults describes, and fails at once
// when it has nothing to do.
std::optional<std::string> WhyStepCannotFix(LadderStep step, Fault fault);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_DIAGNOSIS_H_
