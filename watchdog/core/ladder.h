// The recovery ladder's vocabulary: its steps, their names (as written in the
// config's `ladder`, the logs, the state file and the metrics) and which of
// them take the data plane down.
#ifndef TSWATCHDOG_WATCHDOG_CORE_LADDER_H_
#define TSWATCHDOG_WATCHDOG_CORE_LADDER_H_

#include <optional>
#include <string>
#include <string_view>

namespace watchdog {

// README, "Ladder steps".
enum class LadderStep { kRebind, kStart, kReup, kRestart, kConntrack };

// Every step, in the order above (the metrics list them all).
inline constexpr LadderStep kAllSteps[] = {
    LadderStep::kRebind, LadderStep::kStart, LadderStep::kReup,
    LadderStep::kRestart, LadderStep::kConntrack};

// "rebind", "start", "reup", "restart", "conntrack".
std::string_view StepName(LadderStep step);
std::optional<LadderStep> ParseStep(std::string_view name);
// "rebind, start, reup, restart, conntrack": for error messages.
std::string KnownStepNames();

// Whether a ladder step takes the data plane down (`reup`, `restart`); those
// share the max_disruptive_per_hour budget.
bool IsDisruptive(LadderStep step);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_LADDER_H_
