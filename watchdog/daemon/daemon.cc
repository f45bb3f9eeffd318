#include "watchdog/daemon/daemon.h"

#include <dirent.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "netlink/conntrack.h"
#include "netlink/describe.h"
#include "watchdog/daemon/conntrack_step.h"
#include "watchdog/daemon/logging.h"
#include "watchdog/daemon/metrics.h"
#include "watchdog/daemon/state_file.h"
#include "watchdog/daemon/uplink_json.h"

namespace watchdog {
namespace {

using config::LadderStep;

MachineConfig MachineConfigFor(const config::Config& config) {
  MachineConfig machine = MachineConfigFromConfig(config);
  // Hosts behind one failed uplink must not retry in lockstep.
  machine.jitter_seed = std::random_device{}();
  return machine;
}

netlink::WatcherOptions WatcherOptionsFor(const config::Config& config) {
  netlink::WatcherOptions options;
  options.ignore.tailscale_interfaces = {config.tailscale_interface};
  return options;
}

LocalApiOptions ClientOptionsFor(const config::Config& config) {
  LocalApiOptions options;
  options.socket_path = config.socket;
  return options;
}

std::string UplinkSummary(const netlink::UplinkView& view) {
  return "v4 " + netlink::DescribeEgress(view.v4) + "; v6 " +
         netlink::DescribeEgress(view.v6);
}

std::chrono::system_clock::time_point ToWall(MonoTime mono) {
  return std::chrono::system_clock::now() -
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             MonoClock::now() - mono);
}

// Executables in `dir`, sorted by name (run-parts order).
std::vector<std::string> HookPrograms(const std::string& dir,
                                      std::string* error) {
  std::vector<std::string> programs;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    *error = "hooks_dir " + dir + ": " + std::strerror(errno);
    return programs;
  }
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name.empty() || name[0] == '.') continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(path.c_str(), X_OK) == 0) {
      programs.push_back(path);
    }
  }
  closedir(d);
  std::sort(programs.begin(), programs.end());
  return programs;
}

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) text += (text.empty() ? "" : " ") + a;
  return text;
}

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

Daemon::Daemon(config::Config config, DaemonOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      runner_(loop_),
      machine_(MachineConfigFor(config_), MonoClock::now()) {
  // The signals we handle arrive through signalfd, in the loop.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&signals, sig);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) < 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
  signal_fd_.Reset(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) {
    throw std::system_error(errno, std::generic_category(), "signalfd");
  }
  // A write to a closed LocalAPI connection must be an error, not death.
  signal(SIGPIPE, SIG_IGN);
  watcher_ = std::make_unique<netlink::Watcher>(WatcherOptionsFor(config_));
  if (options_.debug) {
    watcher_->on_message = [](const netlink::Message& msg,
                              netlink::Relevance relevance) {
      spdlog::debug("netlink: {} ({})", netlink::DescribeMessage(msg),
                    netlink::RelevanceName(relevance));
    };
  }
  client_ = std::make_unique<LocalApiClient>(loop_, ClientOptionsFor(config_));
}

Daemon::~Daemon() = default;

int Daemon::Run() {
  spdlog::info(
      "tswatchdog {} starting: socket {}, ladder [{}]{}", TSWATCHDOG_VERSION,
      config_.socket.empty() ? "auto" : config_.socket,
      [&] {
        std::string steps;
        for (LadderStep s : config_.ladder) {
          steps +=
              (steps.empty() ? "" : ", ") + std::string(config::StepName(s));
        }
        return steps;
      }(),
      config_.dry_run ? ", dry run (no action is taken)" : "");
  loop_.WatchFd(watcher_->event_fd(), EPOLLIN, [this](uint32_t) {
    OnUplinkChange(watcher_->HandleReadable());
  });
  loop_.WatchFd(signal_fd_.get(), EPOLLIN, [this](uint32_t) { OnSignal(); });
  spdlog::info("uplink: {}", UplinkSummary(watcher_->view()));
  old_sources_.Observe(watcher_->view());
  Feed(UplinkEvent{
      watcher_->view().AnyUsable(), {}, UplinkSummary(watcher_->view())});
  CheckTailscaleIp();
  client_->WatchBus([this](const Notify& n) { OnNotify(n); },
                    [this](const BusEvent& e) { OnBusEvent(e); });
  FetchStatus(false);
  MarkDirty();
  FlushIfDirty();
  if (auto interval = notifier_.watchdog_interval()) {
    // Pinged from a timer inside the loop: a wedged loop stops the pings and
    // systemd restarts us.
    watchdog_ping_ = [this, interval = *interval] {
      ReportNotifyError(notifier_.Notify("WATCHDOG=1"));
      loop_.AddTimerAfter(interval, watchdog_ping_);
    };
    spdlog::debug("systemd watchdog: pinging every {}ms", interval->count());
    watchdog_ping_();
  }
  while (!loop_.stopped()) {
    try {
      loop_.RunOnce(-1);
      // Whatever this iteration changed, written once: state file, metrics
      // and sd_notify STATUS=.
      FlushIfDirty();
    } catch (const std::exception& e) {
      // A bug of ours must not take the watchdog down with it: say so loudly
      // and go on (the state machine is consistent between events).
      spdlog::critical("internal error, going on: {}", e.what());
    }
  }
  notifier_.Notify("STOPPING=1");
  spdlog::info("stopping");
  client_->StopWatchingBus();
  if (runner_.running() > 0) {
    spdlog::info("waiting for {} child process(es) to end", runner_.running());
  }
  runner_.TerminateAll(std::chrono::seconds(5));
  return 0;
}

void Daemon::OnSignal() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        spdlog::info("{} received",
                     strsignal(static_cast<int>(info.ssi_signo)));
        loop_.Stop();
        return;
      case SIGHUP:
        Reload();
        break;
      case SIGUSR1:
        // An external hint (mwan3/hotplug): re-read everything and treat it
        // as an uplink change even if our view did not move.
        spdlog::info("SIGUSR1: external uplink hint, resyncing");
        OnUplinkChange(watcher_->Resync("SIGUSR1"));
        Feed(UplinkEvent{
            watcher_->view().AnyUsable(),
            {},
            "external hint (SIGUSR1); " + UplinkSummary(watcher_->view())});
        break;
    }
  }
}

void Daemon::OnUplinkChange(
    const std::optional<netlink::UplinkChange>& change) {
  CheckTailscaleIp();
  if (!change) return;
  old_sources_.Observe(change->new_view);
  spdlog::info("uplink changed ({}): {} -> {}", change->ReasonsString(),
               UplinkSummary(change->old_view),
               UplinkSummary(change->new_view));
  Feed(UplinkEvent{change->new_view.AnyUsable(), change->reasons,
                   UplinkSummary(change->new_view)});
  // network-status counts only while our uplink is usable: re-judge.
  Classify(false);
  MarkDirty();  // the view changed even where the state did not
}

void Daemon::CheckTailscaleIp() {
  const netlink::Model& model = watcher_->model();
  bool has_ip = false;
  if (int32_t index = model.FindLinkIndex(config_.tailscale_interface)) {
    for (const auto& addr : model.AddressesOn(index)) {
      for (const auto& prefix : model.policy().tailscale_prefixes) {
        if (prefix.Contains(addr.address)) has_ip = true;
      }
    }
  }
  if (has_ip && !had_tailscale_ip_) {
    spdlog::info("{} has a Tailscale address again",
                 config_.tailscale_interface);
    RestartUnitsOnIp("the Tailscale address appeared");
  }
  had_tailscale_ip_ = has_ip;
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
  } else {
    FetchStatus(false);
  }
}

void Daemon::FetchStatus(bool answer_machine) {
  if (answer_machine) answer_machine_pending_ = true;
  if (status_in_flight_) return;
  status_in_flight_ = true;
  client_->GetStatus([this](ApiResult<Status> result) {
    status_in_flight_ = false;
    if (result.ok()) {
      status_ = std::move(result.value);
      status_error_.clear();
      bus_state_.reset();  // the status is newer than any earlier bus state
    } else {
      status_.reset();
      status_error_ = result.error.ToString();
      spdlog::warn("tailscaled: {}", status_error_);
    }
    const bool answer = answer_machine_pending_;
    answer_machine_pending_ = false;
    Classify(answer);
  });
}

void Daemon::Classify(bool force_event) {
  if (!status_ && status_error_.empty()) return;  // nothing known yet
  const MonoTime now = MonoClock::now();
  std::optional<BackendState> backend =
      bus_state_ ? bus_state_
                 : (status_ ? status_->backend_state : std::nullopt);
  const bool starting =
      backend == BackendState::kStarting || backend == BackendState::kNoState;
  if (!starting) {
    starting_since_.reset();
  } else if (!starting_since_) {
    starting_since_ = now;
  }
  HealthInputs in;
  in.status = status_;
  in.unreachable_error = status_error_;
  in.bus_health = bus_health_;
  in.bus_state = bus_state_;
  in.prefs = prefs_;
  in.uplink_usable = watcher_->view().AnyUsable();
  in.now = now;
  in.starting_since = starting_since_;
  in.start_timeout = config_.start_timeout;
  HealthVerdict verdict = ClassifyHealth(in);
  const bool changed = !verdict_ || verdict_->Describe() != verdict.Describe();
  if (changed) spdlog::info("tailscale: {}", verdict.Describe());
  verdict_ = verdict;
  if (changed || force_event) Feed(HealthEvent{verdict});
  if (changed) MarkDirty();
}

void Daemon::Feed(const Event& event) {
  std::vector<Command> commands = machine_.Step(event, MonoClock::now());
  bool transitioned = false;
  for (const Command& command : commands) {
    if (std::holds_alternative<Transition>(command)) transitioned = true;
    Execute(command);
  }
  ArmMachineTimer();
  if (transitioned) MarkDirty();
}

void Daemon::ArmMachineTimer() {
  if (machine_timer_) loop_.CancelTimer(machine_timer_);
  machine_timer_ = 0;
  if (auto deadline = machine_.NextDeadline()) {
    machine_timer_ = loop_.AddTimer(*deadline, [this] {
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
  } else if (auto* run = std::get_if<RunStep>(&command)) {
    ExecuteStep(*run);
  } else if (std::holds_alternative<RefreshHealth>(command)) {
    spdlog::debug("decision: fetch a fresh status to judge tailscaled");
    FetchStatus(true);
  } else if (std::holds_alternative<RestartDependentUnits>(command)) {
    RestartUnitsOnIp("recovered");
  } else if (auto* hooks = std::get_if<RunHooks>(&command)) {
    RunHookPrograms(hooks->event);
  }
}

void Daemon::FinishStep(LadderStep step, bool ok, std::string error) {
  step_running_ = false;
  if (ok) {
    spdlog::info("step {} done", config::StepName(step));
  } else {
    spdlog::warn("step {} failed: {}", config::StepName(step), error);
  }
  Feed(StepFinished{step, ok, std::move(error)});
}

void Daemon::ExecuteStep(const RunStep& run) {
  const LadderStep step = run.step;
  const std::string name(config::StepName(step));
  step_running_ = true;
  spdlog::info(
      "{} {}{}", config_.dry_run ? "dry run: would run step" : "running step",
      name, run.soft_kick ? " (soft kick after an uplink change)" : "");
  if (config_.dry_run) {
    if (step == LadderStep::kRestart) {
      spdlog::info("dry run: would run {}", JoinArgv(config_.restart_command));
    }
    if (step == LadderStep::kConntrack) {
      loop_.AddTimer(MonoClock::now(), [this] { RunConntrackStep(); });
      return;
    }
    // Answer on the loop, not from inside the machine's own Step().
    loop_.AddTimer(MonoClock::now(),
                   [this, step] { FinishStep(step, true, ""); });
    return;
  }
  switch (step) {
    case LadderStep::kRebind:
      client_->Rebind([this, step](ApiResult<ApiDone> rebind) {
        if (!rebind.ok())
          return FinishStep(step, false, rebind.error.ToString());
        client_->ReStun([this, step](ApiResult<ApiDone> restun) {
          FinishStep(step, restun.ok(),
                     restun.ok() ? "" : restun.error.ToString());
        });
      });
      return;
    case LadderStep::kStart:
      client_->Start([this, step](ApiResult<ApiDone> result) {
        FinishStep(step, result.ok(),
                   result.ok() ? "" : result.error.ToString());
      });
      return;
    case LadderStep::kReup:
      // Only cycle WantRunning if it is true now, and never leave it false.
      client_->GetPrefs([this, step](ApiResult<Prefs> prefs) {
        if (!prefs.ok()) return FinishStep(step, false, prefs.error.ToString());
        if (!prefs.value->want_running) {
          return FinishStep(step, false,
                            "WantRunning is already false (the user's choice); "
                            "not touching it");
        }
        client_->SetWantRunning(false, [this, step](ApiResult<Prefs> down) {
          if (!down.ok()) return FinishStep(step, false, down.error.ToString());
          client_->SetWantRunning(true, [this, step](ApiResult<Prefs> up) {
            if (up.ok()) return FinishStep(step, true, "");
            spdlog::error(
                "reup: setting WantRunning back to true failed ({}); "
                "retrying once",
                up.error.ToString());
            client_->SetWantRunning(true, [this, step](ApiResult<Prefs> retry) {
              if (!retry.ok()) {
                spdlog::critical(
                    "reup: tailscaled is left with WantRunning=false: "
                    "{}; run `tailscale up`",
                    retry.error.ToString());
              }
              FinishStep(step, retry.ok(),
                         retry.ok() ? "" : retry.error.ToString());
            });
          });
        });
      });
      return;
    case LadderStep::kRestart:
      spdlog::info("running {}", JoinArgv(config_.restart_command));
      runner_.Run(
          config_.restart_command, options_.restart_timeout, {},
          [this, step](const ProcessResult& result) {
            spdlog::info(
                "restart_command {}{}{}", result.Describe(),
                result.output.empty() ? "" : "; output: ", result.output);
            FinishStep(step, result.ok(), result.ok() ? "" : result.Describe());
          });
      return;
    case LadderStep::kConntrack:
      // Answer on the loop, not from inside the machine's own Step().
      loop_.AddTimer(MonoClock::now(), [this] { RunConntrackStep(); });
      return;
  }
}

// Synchronous: one bounded dump of the kernel's table and the deletes
// (netlink::ConntrackOptions): tens of milliseconds for thousands of entries.
void Daemon::RunConntrackStep() {
  const std::vector<netlink::OldSource>& old = old_sources_.old();
  ConntrackStepOutcome outcome;
  if (old.empty()) {
    outcome = NothingOld(config_.dry_run);
  } else {
    netlink::ConntrackOptions options;
    options.dry_run = config_.dry_run;
    outcome = JudgeConntrack(old, netlink::DeleteConntrackBoundTo(old, options),
                             config_.dry_run);
  }
  for (const std::string& line : outcome.info) spdlog::info("{}", line);
  for (const std::string& line : outcome.warnings) spdlog::warn("{}", line);
  FinishStep(LadderStep::kConntrack, outcome.ok, outcome.error);
}

void Daemon::RunHookPrograms(const std::string& event) {
  if (config_.hooks_dir.empty()) return;
  std::string error;
  std::vector<std::string> programs = HookPrograms(config_.hooks_dir, &error);
  if (!error.empty()) {
    spdlog::warn("hooks: {}, ignoring", error);
    return;
  }
  const netlink::UplinkView& view = watcher_->view();
  std::map<std::string, std::string> env = {
      {"TSWATCHDOG_EVENT", event},
      {"TSWATCHDOG_STATE", std::string(StateName(machine_.state()))},
      {"TSWATCHDOG_UPLINK", UplinkSummary(view)},
      {"TSWATCHDOG_UPLINK_V4_DEV", view.v4.usable() ? view.v4.dev : ""},
      {"TSWATCHDOG_UPLINK_V6_DEV", view.v6.usable() ? view.v6.dev : ""},
      {"TSWATCHDOG_STEP",
       machine_.last_action()
           ? std::string(config::StepName(machine_.last_action()->step))
           : ""},
  };
  for (const std::string& program : programs) {
    if (config_.dry_run) {
      spdlog::info("dry run: would run hook {} ({})", program, event);
      continue;
    }
    runner_.Run(
        {program}, options_.hook_timeout, env,
        [program, event](const ProcessResult& result) {
          if (result.ok()) {
            spdlog::info("hook {} ({}): {}", program, event, result.Describe());
          } else {
            spdlog::warn(
                "hook {} ({}) failed: {}{}{}", program, event,
                result.Describe(),
                result.output.empty() ? "" : "; output: ", result.output);
          }
        });
  }
}

void Daemon::RestartUnitsOnIp(const char* why) {
  for (const std::string& unit : config_.restart_on_ip) {
    // systemd where it runs, else the OpenWrt/SysV init script of that name.
    std::vector<std::string> argv = {"systemctl", "restart", unit};
    const std::string init_script = "/etc/init.d/" + unit;
    if (access("/run/systemd/system", F_OK) != 0 &&
        access(init_script.c_str(), X_OK) == 0) {
      argv = {init_script, "restart"};
    }
    if (config_.dry_run) {
      spdlog::info("dry run: would run {} ({})", JoinArgv(argv), why);
      continue;
    }
    spdlog::info("restarting {} ({})", unit, why);
    runner_.Run(argv, options_.restart_timeout, {},
                [unit](const ProcessResult& result) {
                  if (result.ok()) {
                    spdlog::info("restarted {}", unit);
                  } else {
                    spdlog::warn("restarting {} failed: {} {}", unit,
                                 result.Describe(), result.output);
                  }
                });
  }
}

nlohmann::json Daemon::StateJson() const {
  using nlohmann::json;
  const auto now = std::chrono::system_clock::now();
  const auto wall_since = ToWall(machine_.since());
  json tailscale = {
      {"backend_state", nullptr},
      {"online", nullptr},
      {"warnings", json::array()},
      {"verdict", verdict_ ? json(std::string(HealthKindName(verdict_->kind)))
                           : json(nullptr)},
      {"reasons", json::array()},
      {"error", status_error_.empty() ? json(nullptr) : json(status_error_)}};
  if (status_) {
    tailscale["backend_state"] = status_->backend_state_name;
    tailscale["online"] = status_->self_online;
    tailscale["version"] = status_->version;
  }
  if (bus_state_) tailscale["backend_state"] = BackendStateName(*bus_state_);
  if (bus_health_) {
    for (const auto& [code, warning] : bus_health_->warnings) {
      tailscale["warnings"].push_back(code);
    }
  } else if (status_) {
    tailscale["warnings"] = status_->health;
  }
  if (verdict_) {
    for (const auto& reason : verdict_->reasons) {
      tailscale["reasons"].push_back(reason.code);
    }
  }
  json last_action = nullptr;
  if (const auto& action = machine_.last_action()) {
    last_action = {
        {"step", config::StepName(action->step)},
        {"at", FormatWallTime(ToWall(action->at))},
        {"at_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                           ToWall(action->at).time_since_epoch())
                           .count()},
        {"finished", action->finished},
        {"ok", action->ok},
        {"error", action->error}};
  }
  const Counters& counters = machine_.counters();
  json state = {
      {"state", StateName(machine_.state())},
      {"since", FormatWallTime(wall_since)},
      {"since_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                            wall_since.time_since_epoch())
                            .count()},
      {"updated", FormatWallTime(now)},
      {"updated_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                              now.time_since_epoch())
                              .count()},
      {"pid", getpid()},
      {"dry_run", config_.dry_run},
      {"uplink", UplinkViewToJson(watcher_->view())},
      {"tailscale", tailscale},
      {"last_action", last_action},
      {"ladder_step", machine_.ladder_index() >= 0
                          ? json(std::string(config::StepName(
                                config_.ladder[machine_.ladder_index()])))
                          : json(nullptr)},
      {"counters",
       {{"uplink_changes", counters.uplink_changes},
        {"actions", counters.actions},
        {"recoveries", counters.recoveries},
        {"disruptive_skipped", counters.disruptive_skipped},
        {"gave_up", counters.gave_up}}},
      {"exhausted_passes", machine_.exhausted_passes()},
      {"disruptive_last_hour", machine_.DisruptiveInLastHour(MonoClock::now())},
      {"max_disruptive_per_hour", config_.max_disruptive_per_hour},
      {"last_time_to_recover_ms",
       machine_.last_time_to_recover()
           ? json(machine_.last_time_to_recover()->count())
           : json(nullptr)},
  };
  return state;
}

// READY=1 once netlink is up and tailscaled has been heard from (or found
// missing): "up" means watching, not "tailscaled healthy". STATUS= follows.
void Daemon::NotifySystemd() {
  if (!notifier_.enabled()) return;
  if (!ready_sent_ && !verdict_) return;
  const netlink::UplinkView& view = watcher_->view();
  std::string status = "STATUS=" + std::string(StateName(machine_.state()));
  if (verdict_) {
    status += "; tailscale " + std::string(HealthKindName(verdict_->kind));
  }
  if (view.AnyUsable()) {
    status += "; uplink " + (view.v4.usable() ? view.v4.dev : view.v6.dev);
  } else {
    status += "; no uplink";
  }
  if (!ready_sent_) status = "READY=1\n" + status;
  std::optional<std::string> error = notifier_.Notify(status);
  if (!error) ready_sent_ = true;
  ReportNotifyError(error);
}

// Says each new notify problem once (a stuck receiver would otherwise be
// reported on every ping).
void Daemon::ReportNotifyError(const std::optional<std::string>& error) {
  if (error && *error != last_notify_error_)
    spdlog::warn("systemd: {}", *error);
  last_notify_error_ = error.value_or("");
}

void Daemon::MarkDirty() { dirty_ = true; }

void Daemon::FlushIfDirty() {
  if (!dirty_) return;
  dirty_ = false;
  NotifySystemd();
  const nlohmann::json state = StateJson();
  bool ok = true;
  if (!config_.metrics_file.empty()) {
    ok &= WriteOutput(metrics_output_, config_.metrics_file,
                      RenderMetrics(state, config_.metrics_interval));
  }
  ArmMetricsRefresh();
  if (!config_.state_file.empty()) {
    ok &= WriteOutput(state_output_, config_.state_file, state.dump(2) + "\n");
  }
  if (ok) {
    output_retry_delay_ = {};
    if (output_retry_timer_) loop_.CancelTimer(output_retry_timer_);
    output_retry_timer_ = 0;
    return;
  }
  // Disk full or a read-only directory: keep working, try again later (a
  // write for a new event may come first).
  if (!output_retry_timer_) {
    output_retry_delay_ =
        std::clamp(output_retry_delay_ * 2, kOutputRetryMin, kOutputRetryMax);
    output_retry_timer_ = loop_.AddTimerAfter(output_retry_delay_, [this] {
      output_retry_timer_ = 0;
      MarkDirty();
    });
  }
}

void Daemon::ArmMetricsRefresh() {
  if (metrics_refresh_timer_) loop_.CancelTimer(metrics_refresh_timer_);
  metrics_refresh_timer_ = 0;
  if (config_.metrics_file.empty()) return;
  metrics_refresh_timer_ =
      loop_.AddTimerAfter(config_.metrics_interval, [this] {
        metrics_refresh_timer_ = 0;
        // Only the metrics: the state file may be on flash, and its readers
        // have the daemon's pid to tell whether it runs.
        if (!WriteOutput(
                metrics_output_, config_.metrics_file,
                RenderMetrics(StateJson(), config_.metrics_interval))) {
          MarkDirty();  // the retry path of FlushIfDirty
        }
        ArmMetricsRefresh();
      });
}

bool Daemon::WriteOutput(OutputFile& file, const std::string& path,
                         const std::string& content) {
  const std::string stale = StaleCopyPath(path);
  std::optional<std::string> error = WriteFileAtomically(path, content);
  if (!error) {
    if (!file.written || !file.last_error.empty()) unlink(stale.c_str());
    if (!file.last_error.empty()) {
      spdlog::info("{} {} written again", file.what, path);
      file.last_error.clear();
    }
    file.written = true;
    return true;
  }
  // The old copy would show stale data as current: set it aside (a rename
  // needs no space on a full disk, and frees none, so writes do not flip
  // between failing and working). Say each new problem once, not on every
  // event.
  std::string set_aside = "; its old copy is now " + stale;
  if (rename(path.c_str(), stale.c_str()) != 0) {
    set_aside = errno == ENOENT
                    ? ""
                    : "; its old copy could not be set aside (" +
                          std::string(std::strerror(errno)) + ") and is stale";
  }
  if (*error != file.last_error) {
    spdlog::error("{} not written ({}){}; going on, retrying", file.what,
                  *error, set_aside);
  }
  file.last_error = *error;
  return false;
}

void Daemon::Reload() {
  if (!options_.reload) return;
  config::Result<config::Config> fresh = options_.reload();
  if (!fresh.ok()) {
    spdlog::error("SIGHUP: config not reloaded, keeping the running one: {}",
                  fresh.error().ToString());
    return;
  }
  config::Config next = fresh.value();
  if (next.socket != config_.socket ||
      next.tailscale_interface != config_.tailscale_interface) {
    spdlog::warn(
        "SIGHUP: socket and tailscale_interface apply after a restart");
    next.socket = config_.socket;
    next.tailscale_interface = config_.tailscale_interface;
  }
  config_ = std::move(next);
  machine_.Reconfigure(MachineConfigFor(config_));
  if (!options_.debug) spdlog::set_level(SpdlogLevel(config_.log_level));
  spdlog::info("SIGHUP: config reloaded");
  MarkDirty();
}

}  // namespace watchdog
