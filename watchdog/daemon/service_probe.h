// Asks the init system about tailscaled's unit when its LocalAPI is gone, so
// that an admin's `systemctl stop tailscaled` is told from a crash
// (core/service_state.h judges the answer).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_SERVICE_PROBE_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_SERVICE_PROBE_H_

#include <chrono>
#include <functional>
#include <string>

#include "watchdog/core/service_state.h"
#include "watchdog/io/process_runner.h"

namespace watchdog {

class ServiceProbe {
 public:
  using Callback = std::function<void(ServiceCondition)>;
  virtual ~ServiceProbe() = default;
  // What systemd says of `unit`, once, through `done` (before Probe returns
  // when the command cannot start); kUnknown when it cannot be asked.
  virtual void Probe(const std::string& unit, Callback done) = 0;
};

// `systemctl show -p LoadState -p ActiveState ... UNIT`, killed after 10 s.
class SystemctlServiceProbe final : public ServiceProbe {
 public:
  explicit SystemctlServiceProbe(ProcessSpawner& processes)
      : processes_(processes) {}
  void Probe(const std::string& unit, Callback done) override;

 private:
  ProcessSpawner& processes_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_SERVICE_PROBE_H_
