#include "watchdog/core/machine.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "watchdog/core/machine_internal.h"
#include "watchdog/core/time.h"

namespace watchdog {
namespace {

using machine_internal::Human;
using machine_internal::kRateWindow;
using std::chrono::milliseconds;

// A deadline that is reached but whose handling sets another deadline that is
// also reached (zero debounce and grace) is handled in the same Step; this
// bounds that chain.
constexpr int kMaxDeadlinesPerStep = 16;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// Clang 14 lacks class template argument deduction for aggregates (P1816).
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string UplinkWords(bool usable, const std::string& summary) {
  std::string words = usable ? "usable" : "no usable uplink";
  if (!summary.empty()) words += " (" + summary + ")";
  return words;
}

std::string Join(const std::set<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += ",";
    joined += item;
  }
  return joined;
}

}  // namespace

namespace machine_internal {

std::string Human(milliseconds duration) {
  if (duration.count() % 1000 == 0 || duration < std::chrono::seconds(1)) {
    return FormatDuration(duration);
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs",
                static_cast<double>(duration.count()) / 1000.0);
  return text;
}

}  // namespace machine_internal

std::string_view StateName(State state) {
  switch (state) {
    case State::kStarting:
      return "starting";
    case State::kNoUplink:
      return "no-uplink";
    case State::kSettling:
      return "settling";
    case State::kVerifying:
      return "verifying";
    case State::kHealthy:
      return "healthy";
    case State::kRecovering:
      return "recovering";
    case State::kCooldown:
      return "cooldown";
    case State::kSuppressed:
      return "suppressed";
  }
  return "unknown";
}

Machine::Machine(MachineConfig config, MonoTime now)
    : config_(std::move(config)), since_(now), jitter_(config_.jitter_seed) {}

std::vector<Command> Machine::Step(const Event& event, MonoTime now) {
  Commands out;
  // A deadline that has passed is handled first, whatever the event: the
  // decision it stands for was due before this event happened.
  for (int i = 0; i < kMaxDeadlinesPerStep && deadline_ && now >= *deadline_;
       ++i) {
    OnDeadline(now, out);
  }
  std::visit(
      Overloaded{
          [&](const UplinkEvent& e) { OnUplink(e, now, out); },
          [&](const HealthEvent& e) { OnHealth(e, now, out); },
          [&](const StepFinished& e) { OnStepFinished(e, now, out); },
          [&](const TailscaleAddressEvent& e) { OnTailscaleAddress(e, out); },
          [&](const EvidenceEvent& e) { OnEvidence(e, now, out); },
          [&](const Tick&) {},
      },
      event);
  return out;
}

std::optional<LadderStep> Machine::ladder_step() const {
  if (state_ != State::kRecovering) return std::nullopt;
  if (running_step_) return running_step_;
  const int index = ladder_index_;
  if (index < 0 || index >= static_cast<int>(config_.ladder.size())) {
    return std::nullopt;
  }
  return config_.ladder[index];
}

void Machine::Reconfigure(MachineConfig config) {
  if (ladder_index_ >= 0 && config.ladder != config_.ladder) {
    // While a step runs, ladder_index_ is its place and the next step is the
    // one after it; otherwise it is the place of the next step to run.
    const bool running = running_step_.has_value();
    const auto& old_ladder = config_.ladder;
    std::optional<LadderStep> at = running_step_;
    if (!running && ladder_index_ < static_cast<int>(old_ladder.size())) {
      at = old_ladder[ladder_index_];
    }
    const auto found =
        at ? std::find(config.ladder.begin(), config.ladder.end(), *at)
           : config.ladder.end();
    if (found != config.ladder.end()) {
      ladder_index_ = static_cast<int>(found - config.ladder.begin());
    } else {
      ladder_index_ = running ? -1 : 0;  // the new ladder from its start
    }
  }
  config_ = std::move(config);
}

int Machine::DisruptiveInLastHour(MonoTime now) const {
  return static_cast<int>(
      std::count_if(disruptive_runs_.begin(), disruptive_runs_.end(),
                    [&](MonoTime at) { return at > now - kRateWindow; }));
}

// --- Events -----------------------------------------------------------------

void Machine::OnUplink(const UplinkEvent& event, MonoTime now, Commands& out) {
  uplink_usable_ = event.usable;
  uplink_summary_ = event.summary;
  if (!have_uplink_) {
    // The first view is the baseline, not a change.
    have_uplink_ = true;
    if (state_ == State::kStarting && verdict_) {
      LeaveStarting(now, out);
    }
    return;
  }

  ++counters_.uplink_changes;
  // One hook per burst, at its first change: a link flapping every 200 ms
  // must not fork a hook process per flap.
  if (!BurstPending(now)) {
    burst_start_ = now;
    burst_changes_ = 0;
    burst_reasons_.clear();
    out.push_back(RunHooks{"uplink-changed"});
  }
  last_change_ = now;
  ++burst_changes_;
  std::set<std::string> reasons;
  for (const netlink::FamilyReason& reason : event.reasons) {
    reasons.insert(reason.ToString());
  }
  if (reasons.empty()) reasons.insert("hint");  // SIGUSR1
  burst_reasons_.insert(reasons.begin(), reasons.end());

  switch (state_) {
    case State::kStarting:
    case State::kSuppressed:
      // Recorded as part of the burst; settled when the state is left.
      return;
    case State::kSettling:
      deadline_ = SettleDeadline();
      return;
    default:
      EnterSettling(now,
                    "uplink changed: " + Join(reasons) + "; " +
                        UplinkWords(uplink_usable_, uplink_summary_),
                    out);
  }
}

void Machine::OnHealth(const HealthEvent& event, MonoTime now, Commands& out) {
  verdict_ = event.verdict;
  const HealthKind kind = event.verdict.kind;

  if (state_ == State::kStarting) {
    // A user-off verdict waits for the first uplink view too: suppressed is
    // entered from there, and nothing acts in kStarting anyway.
    if (have_uplink_) LeaveStarting(now, out);
    return;
  }
  if (kind == HealthKind::kUserIntentOff) {
    if (state_ != State::kSuppressed) EnterSuppressed(now, out);
    return;
  }

  switch (state_) {
    case State::kSuppressed:
      Reevaluate(now, "user intent no longer off: " + event.verdict.Describe(),
                 /*kick=*/false, out);
      return;
    case State::kVerifying:
      if (phase_ == Phase::kRefreshing) DecideOnVerdict(now, out);
      return;
    case State::kHealthy:
      WatchWhileHealthy(now);
      return;
    case State::kRecovering:
      if (phase_ == Phase::kRefreshing) {
        DecideOnVerdict(now, out);
      } else if (phase_ == Phase::kTimer && !running_step_ && LooksHealthy()) {
        // Healthy while waiting to run the next step: the previous step
        // worked, only later than `verify`. This is a new classification
        // after a fresh "not healthy" one, so it is not a stale line.
        RecoveredAfterActing(now, ByLastAction("during the backoff"), out);
      }
      return;
    case State::kCooldown:
      if (phase_ == Phase::kRefreshing) {
        DecideOnVerdict(now, out);
      } else if (LooksHealthy()) {
        RecoveredAfterActing(now, "during the cooldown", out);
      }
      return;
    default:
      // kNoUplink, kSettling: tailscaled being unhappy is expected there;
      // the verdict is remembered for the next decision.
      return;
  }
}

// A degraded (or unreachable) tailscaled on a stable uplink gets
// unhealthy_after before the ladder runs; so does a healthy one whose
// connection the kernel shows dead (when it may not act at once, and for
// DERP, which tailscaled redials by itself). Healthy resets the timer. So
// does kStarting: tailscaled was restarted (by someone) and is making
// progress; if it stays starting the classifier reports degraded after
// start_timeout and the timer starts again.
void Machine::WatchWhileHealthy(MonoTime now) {
  const HealthKind kind = verdict_ ? verdict_->kind : HealthKind::kHealthy;
  if (kind == HealthKind::kDegraded || kind == HealthKind::kUnreachable ||
      (kind == HealthKind::kHealthy && diagnosis().confirmed)) {
    if (!unhealthy_since_) {
      unhealthy_since_ = now;
      SetTimer(now + config_.unhealthy_after);
    }
  } else {
    unhealthy_since_.reset();
    ClearTimer();
  }
}

void Machine::OnStepFinished(const StepFinished& event, MonoTime now,
                             Commands& out) {
  if (last_action_ && !last_action_->finished &&
      last_action_->step == event.step) {
    last_action_->finished = true;
    last_action_->ok = event.ok;
    last_action_->error = event.error;
  }
  if (state_ == State::kRecovering && phase_ == Phase::kWaitingForStep) {
    RunNextStep(ladder_index_, now,
                std::string(StepName(event.step)) + " finished", nullptr, out);
    return;
  }
  if (state_ != State::kRecovering || phase_ != Phase::kStepRunning ||
      running_step_ != event.step) {
    return;  // a soft kick, or a step from before the uplink changed
  }
  const std::string name(StepName(event.step));
  if (event.ok) {
    Transit(State::kRecovering, now,
            "step " + name + " finished, verify in " + Human(config_.verify),
            out);
    SetTimer(now + config_.verify);
    return;
  }
  // The step could not even be issued (a debug endpoint 404 on a
  // ts_omit_debug build, 403): nothing changed in tailscaled, so there is
  // nothing to verify or wait for.
  running_step_.reset();
  RunNextStep(ladder_index_ + 1, now,
              "step " + name + " failed (" + event.error + ")", nullptr, out);
}

// Whatever the state: the units bound to the address need it back, and
// restarting them acts on nothing tailscaled does.
void Machine::OnTailscaleAddress(const TailscaleAddressEvent& event,
                                 Commands& out) {
  const bool first_view = !address_present_.has_value();
  const bool appeared = event.present && address_present_ != true;
  address_present_ = event.present;
  if (!event.present) units_restarted_ = false;
  if (first_view && event.present) {
    out.push_back(RestartDependentUnits{
        "the Tailscale address is there at start", /*services=*/false});
    return;
  }
  if (appeared && !units_restarted_) {
    RestartUnits("the Tailscale address appeared", out);
  }
}

void Machine::OnDeadline(MonoTime now, Commands& out) {
  const Phase phase = phase_;
  ClearTimer();
  switch (state_) {
    case State::kSettling:
      Settle(now, out);
      return;
    case State::kVerifying:
      if (phase == Phase::kRefreshing) {
        DecideOnVerdict(now, out);  // no answer: decide on the latest verdict
      } else {
        RequestVerdict(now, out);
      }
      return;
    case State::kHealthy: {
      const std::string why = "tailscaled unhealthy for " +
                              Human(config_.unhealthy_after) + ": " +
                              (verdict_ ? verdict_->Describe() : "") +
                              "; diagnosis: " + diagnosis().Describe();
      BeginEpisode(unhealthy_since_.value_or(now));
      unhealthy_since_.reset();
      StartLadder(now, why, "unhealthy", out);
      return;
    }
    case State::kRecovering:
      if (phase == Phase::kRefreshing) {
        DecideOnVerdict(now, out);
      } else {
        // The step's verify time or the backoff is over. After a backoff
        // too, a fresh verdict decides: tailscaled may have healed by the
        // last step without a bus line (the bus never carries Online).
        RequestVerdict(now, out);
      }
      return;
    case State::kCooldown:
      if (phase == Phase::kRefreshing) {
        DecideOnVerdict(now, out);
      } else {
        RequestVerdict(now, out);
      }
      return;
    default:
      return;
  }
}

// --- Uplink bursts ----------------------------------------------------------

// A burst of external hints alone (SIGUSR1: mwan3 says something changed,
// our view did not move) is quiet only after this long, whatever `debounce`
// says: with debounce = "0s" every signal was a decision and a soft kick
// (435 rebinds in a second). 1 s is tailscaled's own netmon debounce.
constexpr milliseconds kHintQuiet{1000};

MonoTime Machine::SettleDeadline() const {
  const bool hints_only =
      burst_reasons_.size() == 1 && burst_reasons_.count("hint") == 1;
  const milliseconds quiet =
      hints_only ? std::max(config_.debounce, kHintQuiet) : config_.debounce;
  return std::min(last_change_ + quiet,
                  burst_start_.value_or(last_change_) + config_.settle_max);
}

bool Machine::BurstPending(MonoTime now) const {
  return burst_start_.has_value() && now < SettleDeadline();
}

void Machine::EnterSettling(MonoTime now, const std::string& why,
                            Commands& out) {
  unhealthy_since_.reset();
  running_step_.reset();
  Transit(State::kSettling, now, why, out);
  SetTimer(SettleDeadline());
}

// When the burst is capped the machine decides on the view of that moment.
// The next change starts a new burst and sends it back to settling, so on a
// link that never stops flapping it soft-kicks once per settle_max and the
// ladder does not run: no step can fix a flapping link, and every step is
// then taken on an uplink that was usable when it was issued.
void Machine::Settle(MonoTime now, Commands& out) {
  const MonoTime burst_start = burst_start_.value_or(now);
  const bool capped = last_change_ + config_.debounce > now;
  std::string why = "uplink settled";
  if (capped) {
    why += " at settle_max " + Human(config_.settle_max) + " (still flapping)";
  }
  why += ": " + Join(burst_reasons_);
  if (burst_changes_ > 1) {
    why += " (" + std::to_string(burst_changes_) + " changes)";
  }
  why += "; " + UplinkWords(uplink_usable_, uplink_summary_);
  burst_start_.reset();
  if (uplink_usable_) {
    // A failover's episode starts at its first change; that is what
    // last_time_to_recover() measures from.
    BeginEpisode(burst_start);
    EnterVerifying(now, why, config_.kick_on_change, out);
  } else {
    Transit(State::kNoUplink, now, why, out);
  }
}

void Machine::LeaveStarting(MonoTime now, Commands& out) {
  if (verdict_->kind == HealthKind::kUserIntentOff) {
    EnterSuppressed(now, out);
    return;
  }
  // As if the uplink had just settled, kick included: a daemon (re)started
  // after a failover must not wait for the next change to act.
  Reevaluate(now, "first uplink view and verdict: " + verdict_->Describe(),
             config_.kick_on_change, out);
}

void Machine::Reevaluate(MonoTime now, const std::string& why, bool kick,
                         Commands& out) {
  if (BurstPending(now)) {
    Transit(State::kSettling, now, why + "; uplink still changing", out);
    SetTimer(SettleDeadline());
    return;
  }
  burst_start_.reset();
  const std::string uplink =
      "; " + UplinkWords(uplink_usable_, uplink_summary_);
  if (uplink_usable_) {
    BeginEpisode(now);
    EnterVerifying(now, why + uplink, kick, out);
  } else {
    Transit(State::kNoUplink, now, why + uplink, out);
  }
}

// --- Verifying, healthy, suppressed -----------------------------------------

void Machine::EnterVerifying(MonoTime now, std::string why, bool kick,
                             Commands& out) {
  bool issue_kick = false;
  if (kick) {
    if (verdict_ && verdict_->kind == HealthKind::kUnreachable) {
      why += "; no soft kick: LocalAPI unreachable";
    } else if (last_action_ && !last_action_->finished) {
      // One step at a time: the executor would have to queue it behind a
      // restart that may itself fix things.
      why += "; no soft kick: " + std::string(StepName(last_action_->step)) +
             " still running";
    } else {
      issue_kick = true;
      why += "; soft kick: rebind";
    }
  }
  why += "; grace " + Human(config_.grace);
  unhealthy_since_.reset();
  running_step_.reset();
  Transit(State::kVerifying, now, why, out);
  SetTimer(now + config_.grace);
  if (issue_kick) IssueStep(LadderStep::kRebind, -1, now, out);
}

void Machine::EnterHealthy(MonoTime now, const std::string& why,
                           Commands& out) {
  unhealthy_since_.reset();
  running_step_.reset();
  failed_steps_in_pass_ = 0;
  exhausted_passes_ = 0;
  kick_was_last_ = false;
  Transit(State::kHealthy, now, why, out);
  ClearTimer();
}

void Machine::EnterSuppressed(MonoTime now, Commands& out) {
  unhealthy_since_.reset();
  running_step_.reset();
  Transit(State::kSuppressed, now,
          "user intent: " + verdict_->Describe() + "; not acting while off",
          out);
  ClearTimer();
}

void Machine::RecoveredAfterActing(MonoTime now, const std::string& how,
                                   Commands& out) {
  std::string why = "recovered " + how;
  if (episode_start_) {
    const auto took =
        std::chrono::duration_cast<milliseconds>(now - *episode_start_);
    last_time_to_recover_ = took;
    why += " after " + Human(took);
  }
  ++counters_.recoveries;
  last_recovery_ = now;
  EnterHealthy(now, why, out);
  // Without the address, restarted units could not bind it: its return
  // restarts them.
  if (address_present_ != false && !units_restarted_) {
    RestartUnits("recovered", out);
  }
  out.push_back(RunHooks{"recovered"});
}

void Machine::BeginEpisode(MonoTime start) {
  episode_start_ = start;
  units_restarted_ = false;
  handling_waits_ = 0;
}

void Machine::RestartUnits(std::string why, Commands& out) {
  units_restarted_ = true;
  out.push_back(RestartDependentUnits{std::move(why)});
}

void Machine::RequestVerdict(MonoTime now, Commands& out) {
  out.push_back(RefreshHealth{});
  phase_ = Phase::kRefreshing;
  // If the answer never comes (it should: a failed call is kUnreachable),
  // decide on the latest verdict after another `verify` rather than hang.
  deadline_ = now + config_.verify;
}

void Machine::DecideOnVerdict(MonoTime now, Commands& out) {
  ClearTimer();
  const HealthVerdict verdict = verdict_.value_or(HealthVerdict{});
  if (verdict.kind == HealthKind::kStarting) {
    // Neither healthy nor actionable: look again after `verify` (if it stays
    // starting, the classifier turns it into degraded after start_timeout).
    // The step stays "running" so a healthy answer credits it.
    SetTimer(now + config_.verify);
    return;
  }
  switch (state_) {
    case State::kVerifying:
      if (LooksHealthy()) {
        EnterHealthy(now, "healthy after grace: " + verdict.Describe(), out);
      } else if (!WaitForHandling(
                     now, "not healthy after grace: " + verdict.Describe(),
                     out)) {
        const Diagnosis d = diagnosis();
        StartLadder(now,
                    (ConfirmedNow(d) ? "seen from outside tailscaled: "
                                     : "not healthy after grace: ") +
                        verdict.Describe() + "; diagnosis: " + d.Describe(),
                    "unhealthy", out);
      }
      return;
    case State::kRecovering:
      if (running_step_) {
        DecideAfterStep(verdict, now, out);
      } else {
        DecideAfterBackoff(verdict, now, out);
      }
      return;
    case State::kCooldown:
      if (LooksHealthy()) {
        RecoveredAfterActing(now, "during the cooldown", out);
      } else {
        StartLadder(now,
                    "still not healthy after cooldown: " + verdict.Describe(),
                    nullptr, out);
      }
      return;
    default:
      return;
  }
}

void Machine::Transit(State to, MonoTime now, std::string why, Commands& out) {
  out.push_back(Transition{state_, to, std::move(why)});
  if (to != state_) since_ = now;
  state_ = to;
}

}  // namespace watchdog
