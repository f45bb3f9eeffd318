// The executor of `tswatchdog run`, as wiring: it turns what its ports
// report (uplink bursts, tailscaled's bus lines and answers, timers) into
// Machine events, and the Machine's commands into work for its ports (the
// actuator, the LocalAPI, the publisher). It decides nothing itself: the
// Machine decides (core/machine.h), the health classifier judges
// (core/health.h). Events are queued and fed to the Machine one at a time,
// after the commands of the one before have all been carried out, so a port
// that answers at once never re-enters the Machine.
// The real ports and the loop are built by RunDaemon (daemon/run.h); tests
// build a Daemon over fakes.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_DAEMON_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_DAEMON_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "netlink/conntrack.h"
#include "watchdog/core/diagnosis.h"
#include "watchdog/core/health.h"
#include "watchdog/core/machine.h"
#include "watchdog/daemon/actuator.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/inspector.h"
#include "watchdog/daemon/mwan3_agent.h"
#include "watchdog/daemon/publisher.h"
#include "watchdog/daemon/service_probe.h"
#include "watchdog/daemon/snapshot.h"
#include "watchdog/daemon/uplink_source.h"
#include "watchdog/io/timers.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {

// The machine's timings, ladder and budget from the config (jitter_seed 0).
MachineConfig MachineConfigFromConfig(const config::Config& config);
// mwan3_steering, mwan3_flow_cleanup and dry_run.
Mwan3Settings Mwan3SettingsFromConfig(const config::Config& config);

struct DaemonPorts {
  Timers& timers;
  UplinkSource& uplink;
  TailscaleApi& tailscale;
  Publisher& publisher;
  // What acts (the daemon acts through the dry-run one when dry_run is set).
  Actuator& live;
  Actuator& dry_run;
  // tailscaled from the kernel's side: its sockets, its process.
  ConnectionSource& connections;
  // Asked about tailscaled's unit when its LocalAPI is gone (reads only:
  // also in a dry run).
  ServiceProbe& service;
  // Follows mwan3 (nullptr: not at all; the executor tests).
  Mwan3Agent* mwan3 = nullptr;
};

struct DaemonSettings {
  std::chrono::milliseconds restart_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds hook_timeout{std::chrono::seconds(30)};
  // Seed of the machine's backoff jitter (RunDaemon: std::random_device).
  uint64_t jitter_seed = 0;
  // Lab only (TSWATCHDOG_LAB_TIME_SCALE): tailscaled's timers run this much
  // faster; the connection verdicts' thresholds follow (InspectorSettings).
  double lab_time_scale = 1.0;
};

class Daemon {
 public:
  Daemon(config::Config config, DaemonSettings settings, DaemonPorts ports);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

  // The first uplink view, the bus watch and the first status call.
  void Start();
  void Stop();
  // SIGUSR1: an external hint (mwan3/hotplug) that the uplink changed.
  void OnUplinkHint();
  // mwan3's status directory changed (the agent's inotify descriptor is
  // readable).
  void OnMwan3Files();
  // SIGHUP with a valid config: `socket` and `tailscale_interface` keep
  // their running values (they need a restart).
  void Reconfigure(config::Config next);

  // The state file, metrics file and sd_notify STATUS= follow the daemon's
  // view: every change (and every connection check) marks it dirty, and the
  // loop calls this once per iteration (one event: one write, however many
  // parts of it changed); nothing is written when what the files show did
  // not change (WhyPublish: the clock moving alone is no change).
  void FlushIfDirty();

  // Evidence another component contributes to the diagnosis (mwan3's view,
  // core/diagnosis.h Finding): replaces every earlier finding of `source`
  // (an empty list clears them); the diagnosis takes it into account from
  // the next decision on.
  void SetFindings(const std::string& source, std::vector<Finding> findings);
  // What the daemon knows from outside tailscaled: its connections as judged
  // at the last check, and every component's findings.
  const Evidence& evidence() const { return evidence_; }

  Snapshot TakeSnapshot() const;
  const config::Config& config() const { return config_; }

 private:
  void OnUplinkBurst(const std::optional<netlink::UplinkChange>& change);
  // What the mwan3 agent found (`look`: what to ask it) and did.
  void FollowMwan3(
      const std::function<Mwan3Report(const netlink::Model&)>& look);
  void OnMwan3Report(const Mwan3Report& report);
  void UpdateMwan3Findings();
  void OnNotify(const Notify& notify);
  void OnBusEvent(const BusEvent& event);
  void FetchStatus(bool answer_machine);
  void OnEvidence(const Evidence& evidence);
  InspectorSettings InspectorSettingsFor(const config::Config& config) const;
  // Asks tailscaled for a bugreport marker naming `note`, then runs `then`
  // (also when it fails or when the LocalAPI does not answer at all).
  void MarkForSupport(const std::string& note, std::function<void()> then);
  std::string SupportNote(const std::string& what) const;
  // Hooks held while a marker is asked for, run when it is in.
  void ReleaseHooks();
  void Classify(bool force_event);
  void ProbeService();
  void CheckTailscaleAddress();
  void Feed(Event event);
  void Execute(const Command& command);
  void ExecuteStep(const RunStep& run);
  void ArmMachineTimer();
  void ArmPublishRetry();
  // The metrics file is written again every metrics_interval while nothing
  // changes: its timestamp shows the daemon is alive (the staleness alert).
  void ArmMetricsRefresh();
  Actuator& actuator() const;
  ActionSettings Actions() const;
  HookEnvironment HookEnv(const std::string& event) const;

  config::Config config_;
  DaemonSettings settings_;
  DaemonPorts ports_;
  Machine machine_;
  Timers::TimerId machine_timer_ = 0;

  // Events waiting for the Machine, and whether they are being fed.
  std::deque<Event> pending_;
  bool feeding_ = false;

  // What tailscaled last told us.
  std::optional<Status> status_;
  std::string status_error_;
  std::optional<HealthState> bus_health_;
  std::optional<BackendState> bus_state_;
  std::optional<Prefs> prefs_;
  StartingClock starting_clock_;
  // What systemd said of restart_command's unit since the LocalAPI went
  // away (kUnknown while it answers, or with no such unit).
  ServiceCondition service_condition_ = ServiceCondition::kUnknown;
  bool probe_in_flight_ = false;
  std::optional<HealthVerdict> verdict_;
  bool status_in_flight_ = false;
  bool answer_machine_pending_ = false;
  std::optional<bool> had_tailscale_address_;
  // The kernel's evidence and the findings, by source.
  Evidence evidence_;
  std::map<std::string, std::vector<Finding>> findings_;
  Inspector inspector_;
  // The last bugreport marker (issue 12 item 5): the log, the state file
  // and the hooks' environment carry it.
  std::optional<SupportMarker> marker_;
  bool hold_hooks_ = false;
  std::vector<std::string> held_hooks_;

  // Uplink sources since tailscaled was last healthy: the conntrack step's
  // "old" addresses.
  netlink::OldSources old_sources_;

  bool dirty_ = false;
  // What the files show (nullopt: nothing yet, or a write failed), and
  // whether the next flush writes them even so (a config reload).
  std::optional<PublishedView> published_;
  bool force_publish_ = false;
  // When the inspector last reported (the state file's connections.checked).
  std::optional<MonoTime> evidence_checked_;
  int publish_failures_ = 0;  // in a row, for the retry's backoff
  Timers::TimerId publish_retry_timer_ = 0;
  Timers::TimerId metrics_refresh_timer_ = 0;
  Timers::TimerId mwan3_timer_ = 0;  // mwan3's handling finding expires
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_DAEMON_H_
