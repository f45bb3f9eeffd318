// tailscaled in the world, as the time-to-heal benchmark and the README's
// demo run it: the fake tailscaled on real sockets (tests/fake: `internet` in
// the world's internet namespace, `serve` in the router, the calling
// process's namespace) with a scenario's flags, and `tswatchdog run` with its
// default config (every duration times the time scale) beside it.
#ifndef TSWATCHDOG_TESTS_LAB_WORLD_RUN_H_
#define TSWATCHDOG_TESTS_LAB_WORLD_RUN_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fake_tailscaled_process.h"
#include "tests/bench/heal_events.h"
#include "tests/lab/lab.h"
#include "tests/lab/scenarios.h"
#include "tests/lab/world.h"

namespace lab {

int64_t UnixNowMs();

// tswatchdog's default config with every duration times `scale` (1: exactly
// the defaults, nothing written); `restart_shell` is run by /bin/sh as the
// restart_command.
std::string TswatchdogDefaultConfig(double scale, const std::string& socket,
                                    const std::string& state_file,
                                    const std::string& restart_shell);

class TailscaledInWorld {
 public:
  // Starts the control and DERP servers in the world's internet and the fake
  // tailscaled in the router with the scenario's flags; its event log is
  // `dir`/events.jsonl. Throws std::runtime_error when one does not start.
  TailscaledInWorld(World& world, const Scenario& scenario, double scale,
                    std::string dir);
  TailscaledInWorld(const TailscaledInWorld&) = delete;
  TailscaledInWorld& operator=(const TailscaledInWorld&) = delete;
  ~TailscaledInWorld();

  const std::string& events_path() const { return events_; }
  fake::FakeTailscaledProcess& fake() { return *fake_; }
  std::vector<nlohmann::json> Events() const;
  bool Online() const;

  // The shell command tswatchdog's restart_command runs: logs the time to
  // `dir`/restarts, lets the scenario redo what a restart redoes (mwan3
  // rules), ends a hang and restarts the fake (SIGHUP: a new process).
  std::string RestartShell(const ScenarioContext& ctx) const;

  // `tswatchdog run` (binary `tswatchdog`) with the default config times the
  // scale, the state file `dir`/state.json and plain log lines on its
  // stdout+stderr pipe (Child::ReadLine).
  Child& StartTswatchdog(const std::string& tswatchdog,
                         const ScenarioContext& ctx);
  Child* tswatchdog() { return tswatchdog_.get(); }
  std::string state_path() const { return dir_ + "/state.json"; }
  // The state file's JSON ({} while there is none or it does not parse).
  nlohmann::json State() const;

  // bench::HealedAt over the event log, the new control connection confirmed
  // by `confirm` (unscaled) of life.
  std::optional<int64_t> HealedAt(int64_t t0,
                                  std::chrono::milliseconds confirm) const;
  // Disruptive steps taken at or after `t0` (request log and restarts).
  bench::Steps StepsSince(int64_t t0) const;

 private:
  double scale_;
  std::string dir_, events_;
  std::unique_ptr<Child> internet_, tswatchdog_;
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
};

}  // namespace lab

#endif  // TSWATCHDOG_TESTS_LAB_WORLD_RUN_H_
