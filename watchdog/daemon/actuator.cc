#include "watchdog/daemon/actuator.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "watchdog/core/service_state.h"
#include "watchdog/daemon/conntrack_step.h"

namespace watchdog {
namespace {

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) text += (text.empty() ? "" : " ") + a;
  return text;
}

// The units of restart_on_ip this request brings back: all of them, or
// (for the address already there at start) the sockets only.
std::vector<std::string> UnitsToBringBack(const RestartDependentUnits& request,
                                          const ActionSettings& settings) {
  std::vector<std::string> units;
  for (const std::string& unit : settings.restart_on_ip) {
    if (request.services || IsSocketUnit(unit)) {
      units.push_back(unit);
    } else {
      spdlog::debug("restart_on_ip: {} left alone ({})", unit, request.why);
    }
  }
  return units;
}

template <typename T>
std::string ErrorOf(const ApiResult<T>& result) {
  return result.ok() ? "" : result.error.ToString();
}

// Synchronous: one bounded dump of the kernel's table and, unless a dry
// run, the deletes (netlink::ConntrackOptions): tens of milliseconds for
// thousands of entries.
void RunConntrack(const ActuatorPorts& ports,
                  std::span<const netlink::OldSource> old, bool dry_run,
                  const StepDone& done) {
  ConntrackStepOutcome outcome;
  if (old.empty()) {
    outcome = NothingOld(dry_run);
  } else {
    netlink::ConntrackOptions options;
    options.dry_run = dry_run;
    outcome = JudgeConntrack(old, ports.conntrack(old, options), dry_run);
  }
  for (const std::string& line : outcome.info) spdlog::info("{}", line);
  for (const std::string& line : outcome.warnings) spdlog::warn("{}", line);
  done(outcome.ok, outcome.error);
}

}  // namespace

std::vector<std::string> HookProblems::List(const ActuatorPorts& ports,
                                            const std::string& dir) {
  HookListing listing = ports.list_hooks(dir);
  std::vector<std::string> problems;
  if (!listing.error.empty()) problems.push_back(listing.error);
  for (const std::string& refused : listing.refused) {
    problems.push_back("refused " + refused);
  }
  if (problems != last_) {
    for (const std::string& problem : problems) {
      spdlog::warn("hooks: {}", problem);
    }
    last_ = problems;
  }
  return listing.programs;
}

// "--": a unit name is never an option. Validation (config.h) keeps '/'
// out of names, so the init script is a file in /etc/init.d, never a path
// elsewhere; it must be a regular file.
std::vector<std::string> UnitRestartCommand(const std::string& unit) {
  const std::string init_script = "/etc/init.d/" + unit;
  struct stat st {};
  if (access("/run/systemd/system", F_OK) != 0 &&
      stat(init_script.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      access(init_script.c_str(), X_OK) == 0) {
    return {init_script, "restart"};
  }
  return SystemctlCommandForUnit(unit);
}

// --- Live -------------------------------------------------------------------

void LiveActuator::RunStep(const StepRequest& request,
                           const ActionSettings& settings, StepDone done) {
  spdlog::info("running step {}{}", StepName(request.step),
               request.soft_kick ? " (soft kick after an uplink change)" : "");
  switch (request.step) {
    case LadderStep::kRebind:
      return Rebind(std::move(done));
    case LadderStep::kStart:
      ports_.tailscale.Start([done](ApiResult<ApiDone> result) {
        done(result.ok(), ErrorOf(result));
      });
      return;
    case LadderStep::kReup:
      return Reup(std::move(done));
    case LadderStep::kRestart:
      spdlog::info("running {}", JoinArgv(settings.restart_command));
      ports_.processes.Run(
          settings.restart_command, settings.restart_timeout, {},
          [done](const ProcessResult& result) {
            spdlog::info(
                "restart_command {}{}{}", result.Describe(),
                result.output.empty() ? "" : "; output: ", result.output);
            done(result.ok(), result.ok() ? "" : result.Describe());
          });
      return;
    case LadderStep::kConntrack:
      return RunConntrack(ports_, request.old_sources, /*dry_run=*/false, done);
  }
}

// debug?action=rebind, then restun: a fresh socket and fresh STUN results.
void LiveActuator::Rebind(StepDone done) {
  ports_.tailscale.Rebind([this, done](ApiResult<ApiDone> rebind) {
    if (!rebind.ok()) return done(false, ErrorOf(rebind));
    ports_.tailscale.ReStun([done](ApiResult<ApiDone> restun) {
      done(restun.ok(), ErrorOf(restun));
    });
  });
}

// Cycles WantRunning only if it is true now, and never leaves it false.
void LiveActuator::Reup(StepDone done) {
  ports_.tailscale.GetPrefs([this, done](ApiResult<Prefs> prefs) {
    if (!prefs.ok()) return done(false, ErrorOf(prefs));
    if (!prefs.value->want_running) {
      return done(false,
                  "WantRunning is already false (the user's choice); not "
                  "touching it");
    }
    ports_.tailscale.SetWantRunning(false, [this, done](ApiResult<Prefs> down) {
      if (!down.ok()) return done(false, ErrorOf(down));
      SetWantRunningBack(done);
    });
  });
}

void LiveActuator::SetWantRunningBack(StepDone done) {
  ports_.tailscale.SetWantRunning(true, [this, done](ApiResult<Prefs> up) {
    if (up.ok()) return done(true, "");
    spdlog::error(
        "reup: setting WantRunning back to true failed ({}); retrying once",
        up.error.ToString());
    ports_.tailscale.SetWantRunning(true, [done](ApiResult<Prefs> retry) {
      if (!retry.ok()) {
        spdlog::critical(
            "reup: tailscaled is left with WantRunning=false: {}; run "
            "`tailscale up`",
            retry.error.ToString());
      }
      done(retry.ok(), ErrorOf(retry));
    });
  });
}

void LiveActuator::RunHooks(const std::string& event,
                            const HookEnvironment& env,
                            const ActionSettings& settings) {
  if (settings.hooks_dir.empty() || hooks_stopped_) return;
  hooks_dir_ = settings.hooks_dir;
  hook_timeout_ = settings.hook_timeout;
  const HookQueue::Queued queued = hook_queue_.Push(HookRun{event, env});
  if (queued.dropped) {
    spdlog::warn("hooks: {} runs waiting; the oldest ({}) dropped",
                 kMaxWaitingHookRuns, *queued.dropped);
  } else if (queued.coalesced) {
    spdlog::debug("hooks: {} still waiting, now with the newest state", event);
  }
  PumpHooks();
}

// Starts the next hook program when none runs. A program that cannot start
// reports before ProcessSpawner::Run returns: that is handled here, in the
// loop, not by recursion.
void LiveActuator::PumpHooks() {
  while (!hooks_stopped_ && !hook_program_running_) {
    if (!hooks_running_) {
      std::optional<HookRun> run = hook_queue_.Start();
      if (!run) return;
      // The directory as it is when the run starts.
      hooks_running_ = HookProgress{std::move(*run),
                                    hook_problems_.List(ports_, hooks_dir_)};
    }
    HookProgress& progress = *hooks_running_;
    if (progress.next >= progress.programs.size()) {
      hooks_running_.reset();
      hook_queue_.Finish();
      continue;
    }
    const std::string program = progress.programs[progress.next++];
    const std::string event = progress.run.event;
    hook_program_running_ = true;
    in_hook_spawn_ = true;
    ports_.processes.Run({program}, hook_timeout_, progress.run.env,
                         [this, program, event](const ProcessResult& result) {
                           OnHookDone(program, event, result);
                         });
    in_hook_spawn_ = false;
  }
}

void LiveActuator::OnHookDone(const std::string& program,
                              const std::string& event,
                              const ProcessResult& result) {
  if (result.ok()) {
    spdlog::info("hook {} ({}): {}", program, event, result.Describe());
  } else {
    spdlog::warn("hook {} ({}) failed: {}{}{}", program, event,
                 result.Describe(),
                 result.output.empty() ? "" : "; output: ", result.output);
  }
  hook_program_running_ = false;
  if (!in_hook_spawn_) PumpHooks();
}

void LiveActuator::StopHooks() {
  hooks_stopped_ = true;
  hook_queue_.Clear();
}

void LiveActuator::RestartUnits(const RestartDependentUnits& request,
                                const ActionSettings& settings) {
  for (const std::string& unit : UnitsToBringBack(request, settings)) {
    std::vector<std::string> argv = ports_.unit_restart_argv(unit);
    spdlog::info("{} ({})", JoinArgv(argv), request.why);
    ports_.processes.Run(
        std::move(argv), settings.restart_timeout, {},
        [unit](const ProcessResult& result) {
          if (result.ok()) {
            spdlog::info("restart_on_ip: {} is up", unit);
          } else {
            // A stopped Accept=no socket whose service runs is refused
            // ("Socket service ... already active, refusing"): nothing
            // else is done to it; restarting the service would make it
            // bind every address.
            spdlog::warn(
                "restart_on_ip: bringing {} back failed: {}{}{}", unit,
                result.Describe(),
                result.output.empty() ? "" : "; output: ", result.output);
          }
        });
  }
}

// --- Dry run ----------------------------------------------------------------

void DryRunActuator::RunStep(const StepRequest& request,
                             const ActionSettings& settings, StepDone done) {
  spdlog::info("dry run: would run step {}{}", StepName(request.step),
               request.soft_kick ? " (soft kick after an uplink change)" : "");
  if (request.step == LadderStep::kRestart) {
    spdlog::info("dry run: would run {}", JoinArgv(settings.restart_command));
  }
  if (request.step == LadderStep::kConntrack) {
    return RunConntrack(ports_, request.old_sources, /*dry_run=*/true, done);
  }
  done(true, "");
}

void DryRunActuator::RunHooks(const std::string& event,
                              const HookEnvironment& /*env*/,
                              const ActionSettings& settings) {
  if (settings.hooks_dir.empty()) return;
  for (const std::string& program :
       hook_problems_.List(ports_, settings.hooks_dir)) {
    spdlog::info("dry run: would run hook {} ({})", program, event);
  }
}

void DryRunActuator::RestartUnits(const RestartDependentUnits& request,
                                  const ActionSettings& settings) {
  for (const std::string& unit : UnitsToBringBack(request, settings)) {
    spdlog::info("dry run: would run {} ({})",
                 JoinArgv(ports_.unit_restart_argv(unit)), request.why);
  }
}

}  // namespace watchdog
