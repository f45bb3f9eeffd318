// The watchdog's state machine (README, "tswatchdog run"):
// a pure function of events and a clock. It reads no clock, does no I/O,
// never sleeps and never logs; everything it wants done, including "log this
// transition", comes back as a Command for the executor. It keeps one
// deadline (NextDeadline()); the executor arms one timer for it and sends a
// Tick when it is reached.
#ifndef TSWATCHDOG_WATCHDOG_CORE_MACHINE_H_
#define TSWATCHDOG_WATCHDOG_CORE_MACHINE_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "netlink/uplink.h"
#include "watchdog/core/backoff.h"
#include "watchdog/core/diagnosis.h"
#include "watchdog/core/health.h"
#include "watchdog/core/ladder.h"
#include "watchdog/core/time.h"

namespace watchdog {

enum class State {
  kStarting,    // waiting for the first uplink view and the first verdict
  kNoUplink,    // settled without a usable uplink: never act
  kSettling,    // the uplink changed; waiting for it to be quiet
  kVerifying,   // settled with an uplink; tailscaled gets `grace` to heal
  kHealthy,     // tailscaled healthy (or briefly degraded, below
                // unhealthy_after)
  kRecovering,  // running the ladder, one verified step at a time
  kCooldown,    // the ladder did not help; waiting before the next pass
  kSuppressed,  // the user turned tailscaled off: never act
};

// "starting", "no-uplink", "settling", "verifying", "healthy", "recovering",
// "cooldown", "suppressed".
std::string_view StateName(State state);

struct MachineConfig {
  std::chrono::milliseconds debounce{std::chrono::seconds(5)};
  std::chrono::milliseconds settle_max{std::chrono::seconds(60)};
  std::chrono::milliseconds grace{std::chrono::seconds(20)};
  std::chrono::milliseconds verify{std::chrono::seconds(15)};
  std::chrono::milliseconds unhealthy_after{std::chrono::seconds(90)};
  std::chrono::milliseconds backoff_initial{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(10)};
  bool kick_on_change = true;
  std::vector<LadderStep> ladder = {LadderStep::kRebind, LadderStep::kStart,
                                    LadderStep::kReup, LadderStep::kRestart};
  int max_disruptive_per_hour = 3;
  // Seed of the deterministic ±20% backoff jitter. Tests fix it; the daemon
  // should set it from std::random_device so that many hosts behind one
  // failed uplink do not retry in lockstep (MachineConfigFromConfig leaves
  // it 0).
  uint64_t jitter_seed = 0;
};

// --- Events -----------------------------------------------------------------

// The first uplink view (reasons empty) and every change after it. The
// SIGUSR1 hint is an UplinkEvent too (reasons empty): every UplinkEvent after
// the first counts as a change.
struct UplinkEvent {
  bool usable = false;
  std::vector<netlink::FamilyReason> reasons;
  std::string summary;  // the view in one line, for the transition reasons
};

// Every new classification: a bus line, a status reply, or a failed LocalAPI
// call (kUnreachable).
struct HealthEvent {
  HealthVerdict verdict;
};

// The executor finished issuing a step: the API calls were answered or
// restart_command exited. The executor must send exactly one per RunStep (the
// machine never issues a step while an earlier one has not finished; it
// skips the soft kick or lets the ladder wait instead).
struct StepFinished {
  LadderStep step;
  bool ok = true;
  std::string error;
};

// Whether tailscale_interface holds a Tailscale address: the first
// observation, then every change.
struct TailscaleAddressEvent {
  bool present = false;
};

// What the daemon knows from outside tailscaled (its connections as the
// kernel shows them, other components' findings): after every check. The
// machine combines it with the latest verdict (core/diagnosis.h Diagnose):
// the diagnosis picks the ladder's steps, a control connection seen dead
// ends the grace period or starts the ladder from healthy at once (at most
// once per unhealthy_after after a recovery), and a failover tailscaled is
// handling gets more time instead of a disruptive step.
struct EvidenceEvent {
  Evidence evidence;
};

// NextDeadline() was reached. (A deadline that has passed is also handled
// before any other event, so a late Tick is harmless.)
struct Tick {};

using Event = std::variant<UplinkEvent, HealthEvent, StepFinished,
                           TailscaleAddressEvent, EvidenceEvent, Tick>;

// --- Commands ---------------------------------------------------------------

// A state change, old -> new, with a readable reason list. `from == to` only
// in kRecovering: the ladder moved on (a step finished, failed, or the next
// one starts, or it waits for a failover tailscaled is handling);
// ladder_index() tells which step; in kCooldown: the pass after a cooldown
// found no step it could run (LocalAPI unreachable, the disruptive budget
// spent), so it gave up again with a longer pause; and in kVerifying: the
// grace period was extended because tailscaled is handling a failover.
struct Transition {
  State from;
  State to;
  std::string why;
};

// Issue one step. `index` is the position in the ladder, -1 for the soft kick
// (`kick_on_change`, always `rebind`, soft_kick = true).
struct RunStep {
  LadderStep step;
  int index = 0;
  bool soft_kick = false;
};

// Fetch status?peers=false now and answer with a HealthEvent; check the
// connections first (an EvidenceEvent before it), so the decision does not
// rest on evidence from before the step.
struct RefreshHealth {};

// Bring back the units of `restart_on_ip`: when the Tailscale address
// appears, and after a recovery with the address present; at most once
// between two losses of the address or two episodes. A socket unit is only
// started (a listening one is left alone: restarting an Accept=no socket
// whose service runs leaves it stopped), a service is restarted.
// `services` is false for the address already there when the daemon starts:
// that is no appearance, so services are left alone and only sockets that
// failed before it existed (the boot race) are started.
struct RestartDependentUnits {
  std::string why;  // "the Tailscale address appeared", "recovered"
  bool services = true;
};

// Run the hooks for `event`: "uplink-changed", "unhealthy", "action",
// "recovered", "gave-up".
struct RunHooks {
  std::string event;
};

using Command = std::variant<Transition, RunStep, RefreshHealth,
                             RestartDependentUnits, RunHooks>;

// --- Observable state (status, state file, metrics) -------------------------

struct Counters {
  uint64_t uplink_changes = 0;
  std::map<LadderStep, uint64_t> actions;  // by step, kicks included
  uint64_t recoveries = 0;
  uint64_t disruptive_skipped = 0;  // blocked by max_disruptive_per_hour
  uint64_t gave_up = 0;             // ladder passes that ended in cooldown
};

struct LastAction {
  LadderStep step;
  MonoTime at;            // when it was issued
  bool finished = false;  // StepFinished arrived; `ok`/`error` are its result
  bool ok = false;
  std::string error;
};

class Machine {
 public:
  Machine(MachineConfig config, MonoTime now);

  // Feeds one event; returns what to do, in order. Transitions come before the
  // commands they cause.
  std::vector<Command> Step(const Event& event, MonoTime now);

  // When the machine wants a Tick; nullopt: no timer.
  std::optional<MonoTime> NextDeadline() const { return deadline_; }

  State state() const { return state_; }
  MonoTime since() const { return since_; }
  // The ladder step being run or waited for in kRecovering; -1 otherwise
  // (also while a step runs that a reload took out of the ladder).
  int ladder_index() const {
    return state_ == State::kRecovering ? ladder_index_ : -1;
  }
  // In kRecovering: the step running (whatever the ladder now says), else
  // the one the ladder runs next.
  std::optional<LadderStep> ladder_step() const;
  const Counters& counters() const { return counters_; }
  const std::optional<LastAction>& last_action() const { return last_action_; }
  // From the start of the last unhealthy episode that ended healthy after
  // acting (the first uplink change of a failover, or the first degraded
  // verdict on a stable uplink) to the verdict that said healthy.
  std::optional<std::chrono::milliseconds> last_time_to_recover() const {
    return last_time_to_recover_;
  }
  // Ladder passes in a row that ended in cooldown; 0 again once healthy.
  int exhausted_passes() const { return exhausted_passes_; }
  // Disruptive steps issued in the hour before `now`.
  int DisruptiveInLastHour(MonoTime now) const;
  // The diagnosis from the latest evidence and verdict.
  Diagnosis diagnosis() const { return Diagnose(evidence_, verdict_); }

  // SIGHUP: new timings and ladder apply from the next decision; a deadline
  // already armed stays. Mid-ladder, the position moves to the new ladder by
  // step, never by index: if the new ladder has the step the machine is at
  // (running, or next after a backoff), the ladder goes on from there;
  // otherwise from the new ladder's first step. A step already running
  // finishes either way.
  void Reconfigure(MachineConfig config);

 private:
  // What the machine is waiting for inside a state that has sub-steps.
  enum class Phase {
    kNone,
    kTimer,        // deadline_: grace, backoff, verify, cooldown, unhealthy
    kStepRunning,  // a ladder step was issued; waiting for StepFinished
    kRefreshing,   // RefreshHealth sent; the next verdict decides
    // kRecovering: the next step waits for an earlier one (a soft kick, a
    // step from before an uplink change) to finish.
    kWaitingForStep,
  };

  using Commands = std::vector<Command>;

  void OnUplink(const UplinkEvent& event, MonoTime now, Commands& out);
  void OnHealth(const HealthEvent& event, MonoTime now, Commands& out);
  void WatchWhileHealthy(MonoTime now);
  void OnStepFinished(const StepFinished& event, MonoTime now, Commands& out);
  void OnTailscaleAddress(const TailscaleAddressEvent& event, Commands& out);
  void OnEvidence(const EvidenceEvent& event, MonoTime now, Commands& out);
  // Whether the latest verdict is healthy and nothing seen from outside
  // says otherwise. A DERP connection seen dead does not count here:
  // tailscaled redials DERP by itself, and a healthy tailscaled with a dead
  // DERP socket is handled from kHealthy after unhealthy_after.
  bool LooksHealthy() const;
  // A fault seen from outside tailscaled that a step should fix now (the
  // control connection is dead), rather than after unhealthy_after or the
  // rest of the grace period.
  bool ConfirmedNow(const Diagnosis& diagnosis) const;
  // tailscaled is handling a failover and may get another `verify` of time
  // (twice per episode at most).
  bool WaitForHandling(MonoTime now, const std::string& why, Commands& out);
  void OnDeadline(MonoTime now, Commands& out);

  // The burst of uplink changes being debounced.
  bool BurstPending(MonoTime now) const;
  MonoTime SettleDeadline() const;
  void EnterSettling(MonoTime now, const std::string& why, Commands& out);
  void Settle(MonoTime now, Commands& out);
  void LeaveStarting(MonoTime now, Commands& out);
  // Leaving kStarting or kSuppressed: settle a pending burst first, else go
  // where the uplink says (kick only when `kick`).
  void Reevaluate(MonoTime now, const std::string& why, bool kick,
                  Commands& out);
  void EnterVerifying(MonoTime now, std::string why, bool kick, Commands& out);
  void EnterHealthy(MonoTime now, const std::string& why, Commands& out);
  void EnterSuppressed(MonoTime now, Commands& out);
  void RecoveredAfterActing(MonoTime now, const std::string& how,
                            Commands& out);
  // A new unhealthy episode begins at `start`.
  void BeginEpisode(MonoTime start);
  // Why `step` cannot run for `diagnosis` (it cannot fix the fault; a
  // failover tailscaled is handling; the soft kick just made the same call),
  // or "".
  std::string WhyNotForDiagnosis(LadderStep step,
                                 const Diagnosis& diagnosis) const;
  void RestartUnits(std::string why, Commands& out);

  // Verifying/recovering/cooldown: ask for a fresh verdict, then decide.
  void RequestVerdict(MonoTime now, Commands& out);
  void DecideOnVerdict(MonoTime now, Commands& out);
  void DecideAfterStep(const HealthVerdict& verdict, MonoTime now,
                       Commands& out);
  void DecideAfterBackoff(const HealthVerdict& verdict, MonoTime now,
                          Commands& out);
  // "by <last step> (healthy <when>)", or `when` if nothing ran.
  std::string ByLastAction(const std::string& when) const;

  // The ladder. `hook` (may be null) runs right after the transition.
  void StartLadder(MonoTime now, const std::string& why, const char* hook,
                   Commands& out);
  // The first step at or after `from` that can help (only restart when the
  // LocalAPI is unreachable) and is within the disruptive budget; -1 if none.
  // Appends what it passed over, and why, to `skipped`.
  int FindRunnableStep(int from, MonoTime now, std::string& skipped,
                       bool count_skips);
  // Runs that step, or gives up (cooldown). `why` is what led here.
  void RunNextStep(int from, MonoTime now, std::string why, const char* hook,
                   Commands& out);
  void IssueStep(LadderStep step, int index, MonoTime now, Commands& out);
  void EnterCooldown(MonoTime now, const std::string& why, const char* hook,
                     Commands& out);
  // The pause before the next step or pass: backoff_initial·2^exponent,
  // capped at backoff_max, jittered.
  std::chrono::milliseconds Pause(int exponent);

  void Transit(State to, MonoTime now, std::string why, Commands& out);
  void SetTimer(MonoTime deadline) {
    phase_ = Phase::kTimer;
    deadline_ = deadline;
  }
  void ClearTimer() {
    phase_ = Phase::kNone;
    deadline_.reset();
  }

  MachineConfig config_;
  State state_ = State::kStarting;
  MonoTime since_;
  Phase phase_ = Phase::kNone;
  std::optional<MonoTime> deadline_;

  // Latest inputs.
  bool have_uplink_ = false;
  bool uplink_usable_ = false;
  std::string uplink_summary_;
  std::optional<HealthVerdict> verdict_;
  Evidence evidence_;

  // Current burst of uplink changes.
  std::optional<MonoTime> burst_start_;
  MonoTime last_change_{};
  int burst_changes_ = 0;
  std::set<std::string> burst_reasons_;

  // kHealthy: since when the verdict has been unhealthy without a break.
  std::optional<MonoTime> unhealthy_since_;

  // The ladder.
  int ladder_index_ = -1;
  std::optional<LadderStep> running_step_;
  int failed_steps_in_pass_ = 0;
  int exhausted_passes_ = 0;  // consecutive; reset when healthy
  std::optional<MonoTime> episode_start_;
  // The soft kick was the last step issued in this episode: the ladder's
  // first step must not be the same call again.
  bool kick_was_last_ = false;
  // Times this episode waited for a failover tailscaled is handling.
  int handling_waits_ = 0;
  // When the last episode ended healthy after acting: kernel evidence
  // starts the ladder from kHealthy at once only unhealthy_after later.
  std::optional<MonoTime> last_recovery_;
  // The Tailscale address (nullopt: not reported yet), and whether the
  // units were restarted since it was last lost or an episode began.
  std::optional<bool> address_present_;
  bool units_restarted_ = false;
  std::deque<MonoTime> disruptive_runs_;
  Jitter jitter_;

  Counters counters_;
  std::optional<LastAction> last_action_;
  std::optional<std::chrono::milliseconds> last_time_to_recover_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_MACHINE_H_
