// The ladder part of the Machine (machine.h): which step runs next, the
// disruptive budget, the pauses between steps and the cooldown after a pass.
#include <algorithm>
#include <string>
#include <vector>

#include "watchdog/core/machine.h"
#include "watchdog/core/machine_internal.h"

namespace watchdog {

using machine_internal::Human;
using machine_internal::kRateWindow;
using std::chrono::milliseconds;

// --- The ladder -------------------------------------------------------------

void Machine::StartLadder(MonoTime now, const std::string& why,
                          const char* hook, Commands& out) {
  failed_steps_in_pass_ = 0;
  RunNextStep(0, now, why, hook, out);
}

int Machine::FindRunnableStep(int from, MonoTime now, std::string& skipped,
                              bool count_skips) {
  const Diagnosis d = diagnosis();
  const int size = static_cast<int>(config_.ladder.size());
  int found = -1;
  for (int i = std::max(from, 0); i < size && found < 0; ++i) {
    const LadderStep step = config_.ladder[i];
    const std::string name(StepName(step));
    if (std::string why = WhyNotForDiagnosis(step, d); !why.empty()) {
      skipped += "; " + name + " skipped: " + why;
    } else if (IsDisruptive(step) &&
               DisruptiveInLastHour(now) >= config_.max_disruptive_per_hour) {
      skipped += "; " + name +
                 " skipped: " + std::to_string(DisruptiveInLastHour(now)) +
                 " disruptive steps in the last hour (max " +
                 std::to_string(config_.max_disruptive_per_hour) + ")";
      if (count_skips) ++counters_.disruptive_skipped;
    } else {
      found = i;
    }
  }
  return found;
}

void Machine::RunNextStep(int from, MonoTime now, std::string why,
                          const char* hook, Commands& out) {
  if (last_action_ && !last_action_->finished) {
    // One step at a time, decided when the one still running (a soft kick
    // or a step from before an uplink change) has finished: it may have
    // healed tailscaled, and a restart must not overlap another action.
    ladder_index_ = std::max(from, 0);
    Transit(State::kRecovering, now,
            why + "; waiting for " + std::string(StepName(last_action_->step)) +
                " to finish first",
            out);
    if (hook) out.push_back(RunHooks{hook});
    running_step_.reset();
    phase_ = Phase::kWaitingForStep;
    deadline_.reset();
    return;
  }
  const int index = FindRunnableStep(from, now, why, /*count_skips=*/true);
  if (index < 0) {
    EnterCooldown(now, why + "; ladder exhausted", hook, out);
    return;
  }
  ladder_index_ = index;
  const LadderStep step = config_.ladder[index];
  Transit(State::kRecovering, now,
          why + "; running step " + std::string(StepName(step)) + " (" +
              std::to_string(index + 1) + "/" +
              std::to_string(config_.ladder.size()) + ")",
          out);
  if (hook) out.push_back(RunHooks{hook});
  running_step_ = step;
  IssueStep(step, index, now, out);
  phase_ = Phase::kStepRunning;
  deadline_.reset();
}

void Machine::IssueStep(LadderStep step, int index, MonoTime now,
                        Commands& out) {
  ++counters_.actions[step];
  last_action_ = LastAction{step, now, false, false, ""};
  kick_was_last_ = index < 0;
  if (IsDisruptive(step)) {
    while (!disruptive_runs_.empty() &&
           disruptive_runs_.front() <= now - kRateWindow) {
      disruptive_runs_.pop_front();
    }
    disruptive_runs_.push_back(now);
  }
  out.push_back(RunStep{step, index, /*soft_kick=*/index < 0});
  out.push_back(RunHooks{"action"});
}

void Machine::EnterCooldown(MonoTime now, const std::string& why,
                            const char* hook, Commands& out) {
  // Exponential per consecutive exhausted ladder, capped at backoff_max.
  const milliseconds pause = Pause(exhausted_passes_);
  ++exhausted_passes_;
  ++counters_.gave_up;
  running_step_.reset();
  // The pass is over: the next one, a cooldown later, may start with the
  // soft kick's call.
  kick_was_last_ = false;
  ladder_index_ = -1;
  Transit(State::kCooldown, now,
          why + "; gave up, ladder again in " + Human(pause), out);
  if (hook) out.push_back(RunHooks{hook});
  out.push_back(RunHooks{"gave-up"});
  SetTimer(now + pause);
}

// The verify time of the running step is over and `verdict` is fresh.
void Machine::DecideAfterStep(const HealthVerdict& verdict, MonoTime now,
                              Commands& out) {
  const LadderStep step = running_step_.value_or(LadderStep::kRebind);
  const std::string name(StepName(step));
  if (LooksHealthy()) {
    running_step_.reset();
    RecoveredAfterActing(now, "by " + name, out);
    return;
  }
  // The step stays "running" while waiting, so the next verdict is judged
  // as its outcome again.
  if (WaitForHandling(now, "step " + name + " not healthy yet", out)) return;
  running_step_.reset();
  const std::string why = "step " + name +
                          " did not heal: " + verdict.Describe() +
                          "; diagnosis: " + diagnosis().Describe();
  const int next = ladder_index_ + 1;
  // Look ahead without side effects: when nothing can run, give up now
  // instead of after a pointless backoff. The real choice is made when the
  // backoff is over, on a fresh verdict (DecideAfterBackoff): tailscaled may
  // have healed by then, and the diagnosis or the budget may have changed.
  std::string skipped;
  const int candidate =
      FindRunnableStep(next, now, skipped, /*count_skips=*/false);
  if (candidate < 0) {
    RunNextStep(next, now, why, nullptr, out);
    return;
  }
  ++failed_steps_in_pass_;
  const milliseconds pause = Pause(failed_steps_in_pass_ - 1);
  ladder_index_ = next;
  Transit(State::kRecovering, now,
          why + "; next step " +
              std::string(StepName(config_.ladder[candidate])) + " in " +
              Human(pause),
          out);
  SetTimer(now + pause);
}

// The backoff after a step that did not heal is over and `verdict` is fresh.
void Machine::DecideAfterBackoff(const HealthVerdict& verdict, MonoTime now,
                                 Commands& out) {
  if (LooksHealthy()) {
    RecoveredAfterActing(now, ByLastAction("after the backoff"), out);
    return;
  }
  RunNextStep(ladder_index_, now,
              "backoff over, still " + verdict.Describe() +
                  "; diagnosis: " + diagnosis().Describe(),
              nullptr, out);
}

std::string Machine::ByLastAction(const std::string& when) const {
  if (!last_action_) return when;
  return "by " + std::string(StepName(last_action_->step)) + " (healthy " +
         when + ")";
}

milliseconds Machine::Pause(int exponent) {
  return jitter_.Apply(
      ExponentialDelay(config_.backoff_initial, config_.backoff_max, exponent),
      config_.backoff_max);
}

}  // namespace watchdog
