// What acts on the world for `tswatchdog run`: the ladder's steps (LocalAPI
// calls, restart_command, the conntrack deletion), the hook programs and
// the restarts of the units in restart_on_ip. The daemon decides nothing
// here and the actuators decide nothing either: they carry out the machine's
// commands. The live actuator acts; the dry-run actuator takes the same
// commands, reads what it needs to say what it would do (the hook directory,
// the conntrack table) and changes nothing.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_ACTUATOR_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_ACTUATOR_H_

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlink/conntrack.h"
#include "watchdog/core/ladder.h"
#include "watchdog/core/machine.h"
#include "watchdog/daemon/hooks.h"
#include "watchdog/io/process_runner.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {

// What the actions need from the config, as it is now (SIGHUP may change
// it between two actions).
struct ActionSettings {
  std::vector<std::string> restart_command;
  std::string hooks_dir;  // empty: no hooks
  std::vector<std::string> restart_on_ip;
  std::chrono::milliseconds restart_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds hook_timeout{std::chrono::seconds(30)};
};

// One step to carry out: what the machine asked, and the uplink sources the
// conntrack step deletes entries for.
struct StepRequest {
  LadderStep step;
  bool soft_kick = false;
  std::span<const netlink::OldSource> old_sources;
};

// The step's outcome, exactly once: ok, or why not.
using StepDone = std::function<void(bool ok, std::string error)>;

// Environment of a hook program (TSWATCHDOG_EVENT, ...).
using HookEnvironment = std::map<std::string, std::string>;

class Actuator {
 public:
  virtual ~Actuator() = default;
  // `done` may run before RunStep returns (a command that cannot start):
  // the daemon queues what it feeds the machine, so that is never re-entry.
  virtual void RunStep(const StepRequest& request,
                       const ActionSettings& settings, StepDone done) = 0;
  virtual void RunHooks(const std::string& event, const HookEnvironment& env,
                        const ActionSettings& settings) = 0;
  // Brings back the units of restart_on_ip (see RestartDependentUnits).
  virtual void RestartUnits(const RestartDependentUnits& request,
                            const ActionSettings& settings) = 0;
};

// What the actuators use of the system: the LocalAPI, child processes, the
// kernel's conntrack table, the hook directory, the init system.
struct ActuatorPorts {
  using Conntrack = std::function<netlink::ConntrackResult(
      std::span<const netlink::OldSource>, const netlink::ConntrackOptions&)>;
  // The hooks of `dir` that may run, sorted by name (run-parts order), and
  // what was refused (hooks.h).
  using ListHooks = std::function<HookListing(const std::string& dir)>;
  // The command that brings `unit` back (UnitRestartCommand).
  using UnitRestartArgv =
      std::function<std::vector<std::string>(const std::string& unit)>;

  TailscaleApi& tailscale;
  ProcessSpawner& processes;
  Conntrack conntrack;
  ListHooks list_hooks;
  UnitRestartArgv unit_restart_argv;
};

// The real ports' system parts: netlink::DeleteConntrackBoundTo,
// ListHookPrograms (hooks.h), and SystemctlCommandForUnit where systemd runs
// (start a socket, restart the rest; `--` before the name), else the init
// script /etc/init.d/UNIT restart when it is a regular file (OpenWrt, SysV).
std::vector<std::string> UnitRestartCommand(const std::string& unit);

// Says what the hook directory refused, each time that changes (not on every
// event).
class HookProblems {
 public:
  // The programs of `dir` that may run; logs the problems if they are new.
  std::vector<std::string> List(const ActuatorPorts& ports,
                                const std::string& dir);

 private:
  std::vector<std::string> last_;
};

// Runs hooks one program at a time: an event's programs one after another
// in run-parts order, then the next event's; events that come meanwhile
// wait in a HookQueue (coalesced by event, at most kMaxWaitingHookRuns).
class LiveActuator final : public Actuator {
 public:
  static constexpr size_t kMaxWaitingHookRuns = 8;

  explicit LiveActuator(ActuatorPorts ports) : ports_(std::move(ports)) {}
  void RunStep(const StepRequest& request, const ActionSettings& settings,
               StepDone done) override;
  void RunHooks(const std::string& event, const HookEnvironment& env,
                const ActionSettings& settings) override;
  void RestartUnits(const RestartDependentUnits& request,
                    const ActionSettings& settings) override;
  // Shutdown: no further hook starts (the one running is the process
  // runner's to end).
  void StopHooks();

 private:
  struct HookProgress {
    HookRun run;
    std::vector<std::string> programs;
    size_t next = 0;
  };
  void Rebind(StepDone done);
  void Reup(StepDone done);
  void SetWantRunningBack(StepDone done);
  void PumpHooks();
  void OnHookDone(const std::string& program, const std::string& event,
                  const ProcessResult& result);

  ActuatorPorts ports_;
  HookQueue hook_queue_{kMaxWaitingHookRuns};
  HookProblems hook_problems_;
  std::optional<HookProgress> hooks_running_;
  std::string hooks_dir_;
  std::chrono::milliseconds hook_timeout_{0};
  bool hook_program_running_ = false;
  bool in_hook_spawn_ = false;
  bool hooks_stopped_ = false;
};

class DryRunActuator final : public Actuator {
 public:
  explicit DryRunActuator(ActuatorPorts ports) : ports_(std::move(ports)) {}
  void RunStep(const StepRequest& request, const ActionSettings& settings,
               StepDone done) override;
  void RunHooks(const std::string& event, const HookEnvironment& env,
                const ActionSettings& settings) override;
  void RestartUnits(const RestartDependentUnits& request,
                    const ActionSettings& settings) override;

 private:
  ActuatorPorts ports_;
  HookProblems hook_problems_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_ACTUATOR_H_
