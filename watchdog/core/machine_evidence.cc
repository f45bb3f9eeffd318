// The diagnosis part of the Machine (machine.h): what the evidence from
// outside tailscaled changes in its decisions (core/diagnosis.h).
#include <string>

#include "watchdog/core/machine.h"
#include "watchdog/core/machine_internal.h"

namespace watchdog {

using machine_internal::Human;

// Handling waits per episode: one longer grace and one longer verify, then
// the ladder goes on (never in a loop).
constexpr int kMaxHandlingWaits = 2;

bool Machine::ConfirmedNow(const Diagnosis& diagnosis) const {
  return diagnosis.confirmed && diagnosis.fault == Fault::kControl;
}

bool Machine::LooksHealthy() const {
  return verdict_ && verdict_->healthy() && !ConfirmedNow(diagnosis());
}

void Machine::OnEvidence(const EvidenceEvent& event, MonoTime now,
                         Commands& out) {
  evidence_ = event.evidence;
  const Diagnosis d = diagnosis();
  switch (state_) {
    case State::kHealthy: {
      // tailscaled still says healthy, but the kernel shows its control
      // connection dead: it would notice only after its 120 s map-poll
      // watchdog, and then keep the dead connection
      // (control/controlclient/direct.go). At most one such pass per
      // unhealthy_after after a recovery; else wait like for a degraded
      // verdict.
      const bool may_act_now =
          !last_recovery_ || now - *last_recovery_ >= config_.unhealthy_after;
      if (ConfirmedNow(d) && may_act_now) {
        unhealthy_since_.reset();
        BeginEpisode(now);
        StartLadder(now, "seen from outside tailscaled: " + d.Describe(),
                    "unhealthy", out);
      } else {
        WatchWhileHealthy(now);
      }
      return;
    }
    case State::kVerifying:
      // The grace period is for tailscaled to heal itself; a control
      // connection seen dead will not heal by itself. A fresh verdict
      // (status: Online counts) and the ladder, now.
      if (ConfirmedNow(d) && phase_ == Phase::kTimer) RequestVerdict(now, out);
      return;
    default:
      // Remembered for the next decision.
      return;
  }
}

bool Machine::WaitForHandling(MonoTime now, const std::string& why,
                              Commands& out) {
  const Diagnosis d = diagnosis();
  if (!d.handling || handling_waits_ >= kMaxHandlingWaits) return false;
  ++handling_waits_;
  Transit(
      state_, now,
      why + "; " + d.Describe() + "; looking again in " + Human(config_.verify),
      out);
  SetTimer(now + config_.verify);
  return true;
}

std::string Machine::WhyNotForDiagnosis(LadderStep step,
                                        const Diagnosis& diagnosis) const {
  if (diagnosis.fault) {
    if (auto why = WhyStepCannotFix(step, *diagnosis.fault)) {
      return *why + " (diagnosis: " + FaultName(*diagnosis.fault) + ")";
    }
  }
  if (diagnosis.handling &&
      (IsDisruptive(step) || step == LadderStep::kStart)) {
    return "tailscaled is handling a failover";
  }
  if (kick_was_last_ && step == LadderStep::kRebind) {
    return "the soft kick just ran it";
  }
  return "";
}

}  // namespace watchdog
