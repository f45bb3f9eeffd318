// The `conntrack` ladder step's verdict and log lines, from what
// netlink::DeleteConntrackBoundTo did. Pure: the daemon runs the deletion and
// logs these lines; unit-tested.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_CONNTRACK_STEP_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_CONNTRACK_STEP_H_

#include <span>
#include <string>
#include <vector>

#include "netlink/conntrack.h"

namespace watchdog {

struct ConntrackStepOutcome {
  // ok: entries were deleted, so there is something for the machine to
  // verify. "Nothing to do" (no old address, no entry bound to one) is not
  // ok: nothing changed, and a failed step moves the ladder on at once
  // instead of waiting `verify` for a change that cannot come. A dry run is
  // ok, like every step in a dry run.
  bool ok = false;
  std::string error;                  // for StepFinished when !ok
  std::vector<std::string> info;      // log lines
  std::vector<std::string> warnings;  // log lines
};

// The outcome when there is no old address: the step does not touch the
// kernel.
ConntrackStepOutcome NothingOld(bool dry_run);

// The outcome of a run over `old` (non-empty).
ConntrackStepOutcome JudgeConntrack(std::span<const netlink::OldSource> old,
                                    const netlink::ConntrackResult& result,
                                    bool dry_run);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_CONNTRACK_STEP_H_
