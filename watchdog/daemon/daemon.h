// The executor of `tswatchdog run`: one thread, one epoll loop over the
// netlink event socket, the LocalAPI connections (libcurl multi), a timer for
// the state machine's deadline, a signalfd (TERM/INT/HUP/USR1) and child
// pidfds. It turns kernel changes and tailscaled's health into Machine events
// and the Machine's commands into LocalAPI calls, child processes, log lines
// and state-file writes. All decisions are the Machine's (machine.h).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_DAEMON_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_DAEMON_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/config.h"
#include "config/result.h"
#include "netlink/conntrack.h"
#include "netlink/unique_fd.h"
#include "netlink/watcher.h"
#include "watchdog/core/health.h"
#include "watchdog/core/machine.h"
#include "watchdog/daemon/notifier.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/io/process_runner.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {

struct DaemonOptions {
  // Re-reads the configuration (file + the original flags) on SIGHUP.
  std::function<config::Result<config::Config>()> reload;
  bool debug = false;  // --debug: every parsed change and every decision
  // How long restart_command and hooks may run before they are killed.
  std::chrono::milliseconds restart_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds hook_timeout{std::chrono::seconds(30)};
};

// The machine's timings, ladder and budget from the config (jitter_seed 0).
MachineConfig MachineConfigFromConfig(const config::Config& config);

class Daemon {
 public:
  // Throws std::system_error when netlink or the loop cannot be set up.
  Daemon(config::Config config, DaemonOptions options);
  ~Daemon();

  // Runs until SIGTERM/SIGINT. Returns the process exit status.
  int Run();

  // The state file's content for the current moment (also used by tests).
  nlohmann::json StateJson() const;

 private:
  void OnSignal();
  void OnUplinkChange(const std::optional<netlink::UplinkChange>& change);
  void OnNotify(const Notify& notify);
  void OnBusEvent(const BusEvent& event);
  void FetchStatus(bool answer_machine);
  void Classify(bool force_event);
  void Feed(const Event& event);
  void Execute(const Command& command);
  void ExecuteStep(const RunStep& run);
  void FinishStep(config::LadderStep step, bool ok, std::string error);
  void RunConntrackStep();
  void RunHookPrograms(const std::string& event);
  void RestartUnitsOnIp(const char* why);
  void ArmMachineTimer();
  // The state file, metrics file and sd_notify STATUS= follow the daemon's
  // view: every change marks it dirty, and the loop writes once per
  // iteration (one event: one write, however many parts of it changed).
  void MarkDirty();
  void FlushIfDirty();
  // The metrics file is rewritten every metrics_interval even when nothing
  // changed: its timestamp then shows the daemon is alive.
  void ArmMetricsRefresh();
  struct OutputFile {
    const char* what;
    std::string last_error;  // empty: the last write worked
    bool written = false;
  };
  bool WriteOutput(OutputFile& file, const std::string& path,
                   const std::string& content);
  void Reload();
  void CheckTailscaleIp();
  void NotifySystemd();
  void ReportNotifyError(const std::optional<std::string>& error);

  config::Config config_;
  DaemonOptions options_;
  EventLoop loop_;
  netlink::UniqueFd signal_fd_;
  std::unique_ptr<netlink::Watcher> watcher_;
  std::unique_ptr<LocalApiClient> client_;
  ProcessRunner runner_;
  Machine machine_;
  EventLoop::TimerId machine_timer_ = 0;

  // What tailscaled last told us.
  std::optional<Status> status_;
  std::string status_error_;
  std::optional<HealthState> bus_health_;
  std::optional<BackendState> bus_state_;
  std::optional<Prefs> prefs_;
  std::optional<MonoTime> starting_since_;
  std::optional<HealthVerdict> verdict_;
  bool status_in_flight_ = false;
  bool answer_machine_pending_ = false;
  bool step_running_ = false;
  bool had_tailscale_ip_ = false;
  // Uplink sources since tailscaled was last healthy: the conntrack step's
  // "old" addresses.
  netlink::OldSources old_sources_;
  bool dirty_ = false;
  OutputFile state_output_{"state file", {}, false};
  OutputFile metrics_output_{"metrics file", {}, false};
  static constexpr std::chrono::milliseconds kOutputRetryMin{1000};
  static constexpr std::chrono::milliseconds kOutputRetryMax{10000};
  std::chrono::milliseconds output_retry_delay_{0};
  EventLoop::TimerId output_retry_timer_ = 0;
  EventLoop::TimerId metrics_refresh_timer_ = 0;
  SystemdNotifier notifier_ = SystemdNotifier::FromEnvironment();
  bool ready_sent_ = false;
  std::string last_notify_error_;
  std::function<void()> watchdog_ping_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_DAEMON_H_
