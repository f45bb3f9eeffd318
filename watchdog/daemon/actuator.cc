#include "watchdog/daemon/actuator.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "watchdog/daemon/conntrack_step.h"

namespace watchdog {
namespace {

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) text += (text.empty() ? "" : " ") + a;
  return text;
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

std::vector<std::string> HooksToRun(const ActuatorPorts& ports,
                                    const ActionSettings& settings) {
  if (settings.hooks_dir.empty()) return {};
  std::string error;
  std::vector<std::string> programs =
      ports.list_hooks(settings.hooks_dir, &error);
  if (!error.empty()) spdlog::warn("hooks: {}, ignoring", error);
  return programs;
}

}  // namespace

std::vector<std::string> ListHookPrograms(const std::string& dir,
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

std::vector<std::string> UnitRestartCommand(const std::string& unit) {
  const std::string init_script = "/etc/init.d/" + unit;
  if (access("/run/systemd/system", F_OK) != 0 &&
      access(init_script.c_str(), X_OK) == 0) {
    return {init_script, "restart"};
  }
  return {"systemctl", "restart", unit};
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
  for (const std::string& program : HooksToRun(ports_, settings)) {
    ports_.processes.Run(
        {program}, settings.hook_timeout, env,
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

void LiveActuator::RestartUnits(const std::string& why,
                                const ActionSettings& settings) {
  for (const std::string& unit : settings.restart_on_ip) {
    spdlog::info("restarting {} ({})", unit, why);
    ports_.processes.Run(ports_.unit_restart_argv(unit),
                         settings.restart_timeout, {},
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
  for (const std::string& program : HooksToRun(ports_, settings)) {
    spdlog::info("dry run: would run hook {} ({})", program, event);
  }
}

void DryRunActuator::RestartUnits(const std::string& why,
                                  const ActionSettings& settings) {
  for (const std::string& unit : settings.restart_on_ip) {
    spdlog::info("dry run: would run {} ({})",
                 JoinArgv(ports_.unit_restart_argv(unit)), why);
  }
}

}  // namespace watchdog
