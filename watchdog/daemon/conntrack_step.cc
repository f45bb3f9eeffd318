#include "watchdog/daemon/conntrack_step.h"

#include <fmt/format.h>

namespace watchdog {
namespace {

std::string Entries(size_t n) {
  return std::to_string(n) + (n == 1 ? " entry" : " entries");
}

}  // namespace

ConntrackStepOutcome NothingOld(bool dry_run) {
  ConntrackStepOutcome out;
  out.ok = dry_run;
  out.error =
      "nothing to do: the uplink source has not changed since tailscaled was "
      "last healthy";
  out.info.push_back(std::string(dry_run ? "dry run: " : "") +
                     "conntrack: " + out.error);
  if (dry_run) out.error.clear();
  return out;
}

ConntrackStepOutcome JudgeConntrack(std::span<const netlink::OldSource> old,
                                    const netlink::ConntrackResult& result,
                                    bool dry_run) {
  ConntrackStepOutcome out;
  if (!result.error.empty()) {
    out.error = result.error;
    return out;
  }
  for (size_t i = 0; i < old.size(); ++i) {
    const std::string bound = " bound to " + old[i].address.ToString() +
                              " (old uplink " + old[i].dev + ")";
    out.info.push_back(dry_run ? "dry run: conntrack: would delete " +
                                     Entries(result.matched[i]) + bound
                               : "conntrack: deleted " +
                                     Entries(result.deleted[i]) + bound);
  }
  out.info.push_back(fmt::format("conntrack: examined {} in {:.1f} ms",
                                 Entries(result.examined),
                                 result.took.count() / 1000.0));
  if (result.truncated) {
    out.warnings.push_back(
        "conntrack: a bound on one run was hit (entries examined or "
        "deleted); some entries may be left for the next run");
  }
  if (result.failed > 0) {
    out.warnings.push_back(fmt::format("conntrack: {} deletion(s) failed: {}",
                                       result.failed, result.failure));
  }
  if (dry_run) {
    out.ok = true;
  } else if (result.total_deleted() > 0) {
    out.ok = true;
  } else if (result.failed > 0) {
    out.error = result.failure;
  } else {
    out.error = "nothing to do: no conntrack entry is bound to an old address";
  }
  return out;
}

}  // namespace watchdog
