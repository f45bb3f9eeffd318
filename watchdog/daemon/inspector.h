// When the daemon looks at tailscaled from outside (issue 12 items 1 and 2),
// and what it reports: its connections (ConnectionCheck) right after each
// settled uplink change, a few seconds after each step (the soft kick makes
// tailscaled write on its connections: a dead path shows as retransmissions),
// when the machine wants a fresh verdict, and on a periodic timer
// (`probe_interval`) for the failures no local event announces; its process
// (a stopped tailscaled cannot answer); the DERP map (once, and again when
// tailscaled reconnects or the last fetch failed). It sends nothing to the
// network and decides nothing: it hands the evidence to the daemon and asks
// for a status when a connection is suspect or dead, when tailscaled is
// stopped, and (tailscaled < 1.70, no health on its bus) every fourth
// periodic check.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_INSPECTOR_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_INSPECTOR_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "watchdog/core/connection_verdict.h"
#include "watchdog/core/diagnosis.h"
#include "watchdog/daemon/connection_check.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/uplink_source.h"
#include "watchdog/io/timers.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {

struct InspectorSettings {
  // Between two periodic checks; 0: none (the event-driven ones remain).
  std::chrono::milliseconds probe_interval{std::chrono::seconds(15)};
  // The LocalAPI socket as configured ("": the default paths).
  std::string socket;
  // Lab only (TSWATCHDOG_LAB_TIME_SCALE, README "Tests"): tailscaled's
  // timers run this much faster, so do the verdicts' thresholds and the
  // checks after a step.
  double time_scale = 1.0;
};

// The verdict thresholds at `time_scale` (1: tailscaled's own timers).
VerdictThresholds ThresholdsAt(double time_scale);

class Inspector {
 public:
  struct Hooks {
    std::function<void(const Evidence&)> evidence;  // after every check
    std::function<void(const std::string& why)> want_status;
  };

  Inspector(Timers& timers, ConnectionSource& source, UplinkSource& uplink,
            TailscaleApi& tailscale, InspectorSettings settings, Hooks hooks);
  Inspector(const Inspector&) = delete;
  Inspector& operator=(const Inspector&) = delete;
  ~Inspector();

  // The first check, the DERP map and the periodic timer.
  void Start();
  void Reconfigure(InspectorSettings settings);
  // An uplink change begins (before it settles).
  void OnUplinkChange() { check_.MarkChange(); }
  // tailscaled's bus (re)connected: maybe a new tailscaled.
  void OnTailscaledConnected();
  void CheckNow(const std::string& why);
  // A step was issued and answered: look again a few seconds later, twice.
  void CheckAfterStep();
  // tailscaled < 1.70 (its version from status).
  void SetLegacy(bool legacy) { legacy_ = legacy; }

  const Evidence& evidence() const { return evidence_; }

 private:
  void Periodic();
  void ArmPeriodic();
  void FetchDerpMap();
  void LookAtProcess();
  void Report(const CheckReport& report, const std::string& why);

  Timers& timers_;
  ConnectionSource& source_;
  TailscaleApi& tailscale_;
  InspectorSettings settings_;
  Hooks hooks_;
  ConnectionCheck check_;
  Evidence evidence_;

  Timers::TimerId periodic_timer_ = 0;
  Timers::TimerId after_step_timers_[2] = {0, 0};
  bool derp_wanted_ = true;  // fetch the DERP map at the next chance
  bool derp_in_flight_ = false;
  std::optional<MonoTime> derp_not_before_;
  std::string derp_error_;  // logged once per distinct error
  pid_t pid_ = 0;
  std::string pid_error_;
  char process_state_ = 0;
  std::string problem_;  // the last check's, logged once when it changes
  std::string summary_;  // control/DERP verdicts, logged when they change
  int periodic_count_ = 0;
  bool legacy_ = false;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_INSPECTOR_H_
