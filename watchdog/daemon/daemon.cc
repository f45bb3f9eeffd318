#include "watchdog/daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <utility>

#include "netlink/describe.h"
#include "watchdog/core/backoff.h"

namespace watchdog {
namespace {

std::string UplinkSummary(const netlink::UplinkView& view) {
  return "v4 " + netlink::DescribeEgress(view.v4) + "; v6 " +
         netlink::DescribeEgress(view.v6);
}

MachineConfig MachineConfigFor(const config::Config& config, uint64_t seed) {
  MachineConfig machine = MachineConfigFromConfig(config);
  machine.jitter_seed = seed;
  return machine;
}

// tailscaled before 1.70 has no health on its bus (Notify.Health).
bool IsBefore170(const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return false;
  return major < 1 || (major == 1 && minor < 70);
}

// A file that cannot be written is tried again after 1 s, then 2 s, 4 s,
// ..., at most every 10 s, until it works.
constexpr std::chrono::milliseconds kPublishRetryFirst{1000};
constexpr std::chrono::milliseconds kPublishRetryMax{10000};

}  // namespace

MachineConfig MachineConfigFromConfig(const config::Config& config) {
  MachineConfig machine;
  machine.debounce = config.debounce;
  machine.settle_max = config.settle_max;
  machine.grace = config.grace;
  machine.verify = config.verify;
  machine.unhealthy_after = config.unhealthy_after;
  machine.backoff_initial = config.backoff_initial;
  machine.backoff_max = config.backoff_max;
  machine.kick_on_change = config.kick_on_change;
  machine.ladder = config.ladder;
  machine.max_disruptive_per_hour = config.max_disruptive_per_hour;
  return machine;
}

Mwan3Settings Mwan3SettingsFromConfig(const config::Config& config) {
  return {config.mwan3_steering, config.mwan3_flow_cleanup, config.dry_run,
          config.debounce + config.grace};
}

Daemon::Daemon(config::Config config, DaemonSettings settings,
               DaemonPorts ports)
    : config_(std::move(config)),
      settings_(settings),
      ports_(ports),
      machine_(MachineConfigFor(config_, settings_.jitter_seed),
               ports_.timers.Now()),
      inspector_(ports_.timers, ports_.connections, ports_.uplink,
                 ports_.tailscale, InspectorSettingsFor(config_),
                 {[this](const Evidence& e) {
                    evidence_checked_ = ports_.timers.Now();
                    OnEvidence(e);
                  },
                  [this](const std::string& why) {
                    spdlog::debug("decision: fetch a status: {}", why);
                    FetchStatus(false);
                  }}) {}

InspectorSettings Daemon::InspectorSettingsFor(
    const config::Config& config) const {
  return {config.probe_interval, config.socket, settings_.lab_time_scale};
}

Daemon::~Daemon() {
  if (machine_timer_) ports_.timers.CancelTimer(machine_timer_);
  if (publish_retry_timer_) ports_.timers.CancelTimer(publish_retry_timer_);
  if (mwan3_timer_) ports_.timers.CancelTimer(mwan3_timer_);
  if (metrics_refresh_timer_) {
    ports_.timers.CancelTimer(metrics_refresh_timer_);
  }
}

void Daemon::Start() {
  const netlink::UplinkView& view = ports_.uplink.view();
  spdlog::info("uplink: {}", UplinkSummary(view));
  ports_.uplink.Watch([this](const std::optional<netlink::UplinkChange>& c) {
    OnUplinkBurst(c);
  });
  old_sources_.Observe(view);
  // Routes of ours an earlier run left, and mwan3 as it is now.
  FollowMwan3([this](const netlink::Model& kernel) {
    return ports_.mwan3->Look(kernel, "start");
  });
  Feed(UplinkEvent{view.AnyUsable(), {}, UplinkSummary(view)});
  CheckTailscaleAddress();
  ports_.tailscale.WatchBus([this](const Notify& n) { OnNotify(n); },
                            [this](const BusEvent& e) { OnBusEvent(e); });
  FetchStatus(false);
  inspector_.Start();
  dirty_ = true;
}

void Daemon::Stop() {
  ports_.tailscale.StopWatchingBus();
  if (ports_.mwan3 && ports_.uplink.kernel()) {
    ports_.mwan3->Stop(*ports_.uplink.kernel());
  }
}

void Daemon::OnUplinkHint() {
  // Re-read everything and treat it as an uplink change even if our view
  // did not move.
  spdlog::info("SIGUSR1: external uplink hint, resyncing");
  OnUplinkBurst(ports_.uplink.Resync("SIGUSR1"));
  FollowMwan3([this](const netlink::Model& kernel) {
    return ports_.mwan3->Look(kernel, "SIGUSR1");
  });
  const netlink::UplinkView& view = ports_.uplink.view();
  Feed(UplinkEvent{
      view.AnyUsable(), {}, "external hint (SIGUSR1); " + UplinkSummary(view)});
}

void Daemon::Reconfigure(config::Config next) {
  if (next.socket != config_.socket ||
      next.tailscale_interface != config_.tailscale_interface) {
    spdlog::warn(
        "SIGHUP: socket and tailscale_interface apply after a restart");
    next.socket = config_.socket;
    next.tailscale_interface = config_.tailscale_interface;
  }
  config_ = std::move(next);
  machine_.Reconfigure(MachineConfigFor(config_, settings_.jitter_seed));
  inspector_.Reconfigure(InspectorSettingsFor(config_));
  spdlog::info("SIGHUP: config reloaded");
  force_publish_ = true;
  FollowMwan3([this](const netlink::Model& kernel) {
    return ports_.mwan3->Reconfigure(Mwan3SettingsFromConfig(config_), kernel);
  });
  dirty_ = true;
}

void Daemon::OnMwan3Files() {
  FollowMwan3([this](const netlink::Model& kernel) {
    return ports_.mwan3->OnStatusReadable(kernel);
  });
}

void Daemon::FollowMwan3(
    const std::function<Mwan3Report(const netlink::Model&)>& look) {
  if (ports_.mwan3 == nullptr || ports_.uplink.kernel() == nullptr) return;
  OnMwan3Report(look(*ports_.uplink.kernel()));
}

void Daemon::OnMwan3Report(const Mwan3Report& report) {
  if (report.changed) dirty_ = true;
  if (!report.steering.empty() || !report.cleanups.empty()) {
    UpdateMwan3Findings();
  }
}

// mwan3's findings for the diagnosis, until they expire (a steering change
// handled) or their connections are gone (mode B).
void Daemon::UpdateMwan3Findings() {
  if (ports_.mwan3 == nullptr) return;
  SetFindings("mwan3", ports_.mwan3->Findings(evidence_.connections));
  if (mwan3_timer_) ports_.timers.CancelTimer(mwan3_timer_);
  mwan3_timer_ = 0;
  const std::optional<MonoTime> until = ports_.mwan3->handling_until();
  if (until && *until > ports_.timers.Now()) {
    mwan3_timer_ = ports_.timers.AddTimer(*until, [this] {
      mwan3_timer_ = 0;
      UpdateMwan3Findings();
    });
  }
}

// --- What the ports report --------------------------------------------------

void Daemon::SetFindings(const std::string& source,
                         std::vector<Finding> findings) {
  std::vector<Finding>& mine = findings_[source];
  if (mine == findings) return;
  for (const Finding& f : findings) {
    spdlog::info("evidence from {}: {}", source, f.evidence);
  }
  if (findings.empty()) spdlog::info("evidence from {}: none now", source);
  mine = std::move(findings);
  OnEvidence(inspector_.evidence());
}

// The inspector's connections and every component's findings: one
// EvidenceEvent.
void Daemon::OnEvidence(const Evidence& connections) {
  Evidence next = connections;
  next.findings.clear();
  for (const auto& [name, list] : findings_) {
    next.findings.insert(next.findings.end(), list.begin(), list.end());
  }
  if (ports_.mwan3) {
    const std::optional<Mwan3Status> mwan3 = ports_.mwan3->status();
    if (mwan3) {
      if (auto wait = ModeAWaitFinding(*mwan3)) next.findings.push_back(*wait);
    }
  }
  // Every check looks at the published view again, changed evidence or not:
  // the clock alone moves some of it (disruptive_last_hour, the wall clock),
  // and FlushIfDirty writes only what changed.
  dirty_ = true;
  evidence_ = std::move(next);
  Feed(EvidenceEvent{evidence_});
}

void Daemon::OnUplinkBurst(const std::optional<netlink::UplinkChange>& change) {
  CheckTailscaleAddress();
  FollowMwan3([this](const netlink::Model& kernel) {
    return ports_.mwan3->OnKernel(kernel);
  });
  if (!change) return;
  inspector_.OnUplinkChange();
  old_sources_.Observe(change->new_view);
  spdlog::info("uplink changed ({}): {} -> {}", change->ReasonsString(),
               UplinkSummary(change->old_view),
               UplinkSummary(change->new_view));
  Feed(UplinkEvent{change->new_view.AnyUsable(), change->reasons,
                   UplinkSummary(change->new_view)});
  // network-status counts only while our uplink is usable: re-judge.
  Classify(false);
  dirty_ = true;  // the view changed even where the state did not
}

void Daemon::CheckTailscaleAddress() {
  const bool present = ports_.uplink.HasTailscaleAddress();
  if (had_tailscale_address_ == present) return;
  if (present) {
    spdlog::info("{} has a Tailscale address again",
                 config_.tailscale_interface);
  }
  had_tailscale_address_ = present;
  Feed(TailscaleAddressEvent{present});
}

void Daemon::OnNotify(const Notify& notify) {
  if (notify.err_message) {
    spdlog::warn("tailscaled bus: {}", *notify.err_message);
  }
  bool relevant = false;
  if (notify.health) {
    bus_health_ = notify.health;
    relevant = true;
  }
  if (notify.state) {
    bus_state_ = notify.state;
    relevant = true;
  }
  if (notify.prefs) {
    prefs_ = notify.prefs;
    relevant = true;
  }
  if (relevant && (status_ || !status_error_.empty())) Classify(false);
}

void Daemon::OnBusEvent(const BusEvent& event) {
  if (event.kind == BusEvent::Kind::kConnected) {
    spdlog::info("tailscaled: watching its bus");
    FetchStatus(false);
    inspector_.OnTailscaledConnected();
    return;
  }
  spdlog::warn("tailscaled bus: {}; reconnecting in {}ms",
               event.error.ToString(), event.retry_in.count());
  if (event.error.kind == LocalApiError::Kind::kConnect ||
      event.error.kind == LocalApiError::Kind::kTimeout) {
    // Nothing answers: whatever we knew is stale.
    status_.reset();
    status_error_ = event.error.ToString();
    bus_health_.reset();
    bus_state_.reset();
    Classify(false);
    ProbeService();
  } else {
    FetchStatus(false);
  }
}

void Daemon::FetchStatus(bool answer_machine) {
  if (answer_machine) answer_machine_pending_ = true;
  if (status_in_flight_) return;
  status_in_flight_ = true;
  ports_.tailscale.GetStatus([this](ApiResult<Status> result) {
    status_in_flight_ = false;
    if (result.ok()) {
      status_ = std::move(result).value();
      status_error_.clear();
      bus_state_.reset();  // the status is newer than any earlier bus state
      inspector_.SetLegacy(IsBefore170(status_->version));
      service_condition_ = ServiceCondition::kUnknown;
    } else {
      status_.reset();
      status_error_ = result.error().ToString();
      spdlog::warn("tailscaled: {}", status_error_);
    }
    const bool answer = answer_machine_pending_;
    answer_machine_pending_ = false;
    Classify(answer);
    if (!result.ok()) ProbeService();
  });
}

// The LocalAPI is gone: an admin's `systemctl stop` (their intent, which
// the ladder must not undo) or a crash? systemd knows, for the unit that
// restart_command restarts (issue 14, defect 3).
void Daemon::ProbeService() {
  const std::optional<std::string> unit =
      SystemdUnitOfRestartCommand(config_.restart_command);
  if (!unit || probe_in_flight_) return;
  probe_in_flight_ = true;
  ports_.service.Probe(*unit, [this, unit](ServiceCondition condition) {
    probe_in_flight_ = false;
    if (status_) return;  // it answered meanwhile
    if (condition == service_condition_) return;
    spdlog::info("tailscaled: systemd says {} is {}", *unit,
                 ServiceConditionName(condition));
    service_condition_ = condition;
    Classify(false);
  });
}

void Daemon::Classify(bool force_event) {
  if (!status_ && status_error_.empty()) return;  // nothing known yet
  // tailscaled's word changed: the connections mwan3 found dead may be gone.
  if (ports_.mwan3 && ports_.mwan3->RecheckMovedConnections()) {
    UpdateMwan3Findings();
  }
  HealthInputs in;
  in.status = status_;
  in.unreachable_error = status_error_;
  in.bus_health = bus_health_;
  in.bus_state = bus_state_;
  in.prefs = prefs_;
  in.uplink_usable = ports_.uplink.view().AnyUsable();
  in.now = ports_.timers.Now();
  in.start_timeout = config_.start_timeout;
  if (service_condition_ == ServiceCondition::kStoppedOnPurpose) {
    in.stopped_service =
        SystemdUnitOfRestartCommand(config_.restart_command).value_or("");
  }
  HealthVerdict verdict = starting_clock_.Classify(in);
  const bool changed = !verdict_ || verdict_->Describe() != verdict.Describe();
  if (changed) spdlog::info("tailscale: {}", verdict.Describe());
  verdict_ = verdict;
  if (changed || force_event) Feed(HealthEvent{verdict});
  if (changed) dirty_ = true;
}

// --- The machine ------------------------------------------------------------

void Daemon::Feed(Event event) {
  pending_.push_back(std::move(event));
  if (feeding_) return;  // fed after the commands being carried out
  feeding_ = true;
  struct Done {
    bool& feeding;
    ~Done() { feeding = false; }
  } done{feeding_};
  while (!pending_.empty()) {
    const Event next = std::move(pending_.front());
    pending_.pop_front();
    // A transition, a step issued or a step finished changes the published
    // view (last_action); a finished soft kick has no transition of its own.
    bool changed = std::holds_alternative<StepFinished>(next);
    for (const Command& command : machine_.Step(next, ports_.timers.Now())) {
      changed |= std::holds_alternative<Transition>(command) ||
                 std::holds_alternative<RunStep>(command);
      Execute(command);
    }
    if (changed) dirty_ = true;
  }
  ArmMachineTimer();
}

void Daemon::ArmMachineTimer() {
  if (machine_timer_) ports_.timers.CancelTimer(machine_timer_);
  machine_timer_ = 0;
  if (auto deadline = machine_.NextDeadline()) {
    machine_timer_ = ports_.timers.AddTimer(*deadline, [this] {
      machine_timer_ = 0;
      Feed(Tick{});
    });
  }
}

void Daemon::Execute(const Command& command) {
  if (auto* t = std::get_if<Transition>(&command)) {
    if (t->from == t->to) {
      spdlog::info("state {}: {}", StateName(t->to), t->why);
    } else {
      spdlog::info("state {} -> {}: {}", StateName(t->from), StateName(t->to),
                   t->why);
    }
    // Verified healthy: the uplink sources it moved away from are no longer
    // the conntrack step's business.
    if (t->to == State::kHealthy) old_sources_.Forget();
    // Right after each settled uplink change: how do tailscaled's
    // connections look now?
    if (t->from == State::kSettling && t->to != State::kSettling) {
      inspector_.CheckNow("uplink settled");
    }
  } else if (auto* run = std::get_if<RunStep>(&command)) {
    if (IsDisruptive(run->step)) {
      // The marker first (tailscaled flushes its logs), then the step and
      // the hooks that follow it, which carry the marker.
      hold_hooks_ = true;
      MarkForSupport(SupportNote("before " + std::string(StepName(run->step))),
                     [this, step = *run] {
                       ExecuteStep(step);
                       ReleaseHooks();
                     });
    } else {
      ExecuteStep(*run);
    }
  } else if (std::holds_alternative<RefreshHealth>(command)) {
    spdlog::debug("decision: fetch a fresh status to judge tailscaled");
    inspector_.CheckNow("fresh verdict");
    FetchStatus(true);
  } else if (auto* units = std::get_if<RestartDependentUnits>(&command)) {
    actuator().RestartUnits(*units, Actions());
  } else if (auto* hooks = std::get_if<RunHooks>(&command)) {
    if (hooks->event == "gave-up") {
      hold_hooks_ = true;
      held_hooks_.push_back(hooks->event);
      MarkForSupport(SupportNote("the ladder gave up"),
                     [this] { ReleaseHooks(); });
    } else if (hold_hooks_) {
      held_hooks_.push_back(hooks->event);
    } else {
      actuator().RunHooks(hooks->event, HookEnv(hooks->event), Actions());
    }
  }
}

void Daemon::ExecuteStep(const RunStep& run) {
  const LadderStep step = run.step;
  actuator().RunStep({step, run.soft_kick, old_sources_.old()}, Actions(),
                     [this, step](bool ok, std::string error) {
                       if (ok) {
                         spdlog::info("step {} done", StepName(step));
                         inspector_.CheckAfterStep();
                       } else {
                         spdlog::warn("step {} failed: {}", StepName(step),
                                      error);
                       }
                       Feed(StepFinished{step, ok, std::move(error)});
                     });
}

Actuator& Daemon::actuator() const {
  return config_.dry_run ? ports_.dry_run : ports_.live;
}

ActionSettings Daemon::Actions() const {
  return {config_.restart_command, config_.hooks_dir, config_.restart_on_ip,
          settings_.restart_timeout, settings_.hook_timeout};
}

HookEnvironment Daemon::HookEnv(const std::string& event) const {
  const netlink::UplinkView& view = ports_.uplink.view();
  const auto& action = machine_.last_action();
  return {
      {"TSWATCHDOG_EVENT", event},
      {"TSWATCHDOG_STATE", std::string(StateName(machine_.state()))},
      {"TSWATCHDOG_UPLINK", UplinkSummary(view)},
      {"TSWATCHDOG_UPLINK_V4_DEV", view.v4.usable() ? view.v4.dev : ""},
      {"TSWATCHDOG_UPLINK_V6_DEV", view.v6.usable() ? view.v6.dev : ""},
      {"TSWATCHDOG_STEP", action ? std::string(StepName(action->step)) : ""},
      {"TSWATCHDOG_DIAGNOSIS", machine_.diagnosis().Describe()},
      {"TSWATCHDOG_BUGREPORT", marker_ ? marker_->marker : ""},
  };
}

// --- Publishing -------------------------------------------------------------

void Daemon::FlushIfDirty() {
  if (!dirty_) return;
  dirty_ = false;
  const Snapshot snapshot = TakeSnapshot();
  PublishedView next{
      StableContent(snapshot),
      {config_.state_file, config_.metrics_file, config_.metrics_interval},
      ClockPair::Now().Offset()};
  const PublishReason why = WhyPublish(published_, next, force_publish_);
  if (why == PublishReason::kUnchanged) return;
  spdlog::debug("publishing the view: {}", PublishReasonName(why));
  force_publish_ = false;
  const bool published = ports_.publisher.Publish(snapshot, next.targets);
  ArmMetricsRefresh();
  published_.reset();
  if (published) {
    published_ = std::move(next);
    publish_failures_ = 0;
    if (publish_retry_timer_) ports_.timers.CancelTimer(publish_retry_timer_);
    publish_retry_timer_ = 0;
    return;
  }
  ArmPublishRetry();
}

// Disk full or a read-only directory: keep working, try again later (a
// write for a new event may come first).
void Daemon::ArmPublishRetry() {
  if (publish_retry_timer_) return;
  const std::chrono::milliseconds delay = ExponentialDelay(
      kPublishRetryFirst, kPublishRetryMax, publish_failures_++);
  publish_retry_timer_ =
      ports_.timers.AddTimer(ports_.timers.Now() + delay, [this] {
        publish_retry_timer_ = 0;
        dirty_ = true;
      });
}

void Daemon::ArmMetricsRefresh() {
  if (metrics_refresh_timer_) ports_.timers.CancelTimer(metrics_refresh_timer_);
  metrics_refresh_timer_ = 0;
  if (config_.metrics_file.empty()) return;
  metrics_refresh_timer_ = ports_.timers.AddTimer(
      ports_.timers.Now() + config_.metrics_interval, [this] {
        metrics_refresh_timer_ = 0;
        // Only the metrics: the state file may be on flash, and its readers
        // have the daemon's pid to tell whether it runs.
        if (!ports_.publisher.Publish(
                TakeSnapshot(),
                {"", config_.metrics_file, config_.metrics_interval})) {
          published_.reset();  // the retry writes both
          ArmPublishRetry();
        }
        ArmMetricsRefresh();
      });
}

Snapshot Daemon::TakeSnapshot() const {
  Snapshot snapshot;
  snapshot.state = machine_.state();
  snapshot.since = machine_.since();
  snapshot.dry_run = config_.dry_run;
  snapshot.uplink = ports_.uplink.view();
  TailscaleView& tailscale = snapshot.tailscale;
  if (status_) {
    tailscale.backend_state = status_->backend_state_name;
    tailscale.online = status_->self_online;
    tailscale.version = status_->version;
  }
  if (bus_state_) tailscale.backend_state = BackendStateName(*bus_state_);
  if (bus_health_) {
    for (const auto& [code, warning] : bus_health_->warnings) {
      tailscale.warnings.push_back(code);
    }
  } else if (status_) {
    tailscale.warnings = status_->health;
  }
  tailscale.verdict = verdict_;
  tailscale.error = status_error_;
  snapshot.last_action = machine_.last_action();
  snapshot.ladder_step = machine_.ladder_step();
  snapshot.counters = machine_.counters();
  snapshot.last_time_to_recover = machine_.last_time_to_recover();
  snapshot.evidence = evidence_;
  snapshot.evidence_checked = evidence_checked_;
  snapshot.diagnosis = machine_.diagnosis();
  snapshot.support_marker = marker_;
  if (ports_.mwan3) snapshot.mwan3 = ports_.mwan3->status();
  snapshot.exhausted_passes = machine_.exhausted_passes();
  snapshot.disruptive_last_hour =
      machine_.DisruptiveInLastHour(ports_.timers.Now());
  snapshot.max_disruptive_per_hour = config_.max_disruptive_per_hour;
  return snapshot;
}

}  // namespace watchdog
