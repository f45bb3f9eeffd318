// What systemd says about tailscaled's unit, so that the daemon can tell an
// admin's `systemctl stop tailscaled` (their intent: leave it stopped) from
// a crash (a fault: heal it) when the LocalAPI is gone. Pure: the text comes
// from `systemctl show` (kSystemctlShowArgs), run by the daemon.
#ifndef TSWATCHDOG_WATCHDOG_CORE_SERVICE_STATE_H_
#define TSWATCHDOG_WATCHDOG_CORE_SERVICE_STATE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace watchdog {

// The properties read, as `systemctl show` arguments before the unit name.
inline constexpr std::string_view kSystemctlShowProperties[] = {
    "LoadState", "ActiveState", "SubState", "Result", "Job"};

struct ServiceState {
  std::string load_state;    // loaded, not-found, masked, ...
  std::string active_state;  // active, inactive, failed, activating, ...
  std::string sub_state;     // running, dead, auto-restart, ...
  std::string result;        // success, exit-code, signal, ...
  std::string job;           // the pending job's id; empty when none
};

// `systemctl show -p ...` output: one Key=Value a line, any order; unknown
// keys and lines without '=' are ignored.
ServiceState ParseSystemctlShow(std::string_view text);

enum class ServiceCondition {
  kUnknown,  // no such unit (not-found, masked), or nothing read
  kUp,       // active, or on its way up or down, or a job is pending (a
             // restart passes through inactive with its start job queued)
  kStoppedOnPurpose,  // inactive, its last run ended well, no job pending:
                      // `systemctl stop`, or never started (disabled)
  kFailed,            // failed, or inactive after a failure
};

ServiceCondition JudgeService(const ServiceState& state);
std::string_view ServiceConditionName(ServiceCondition condition);

// A socket unit ("ssh.socket"): restart_on_ip only starts it.
bool IsSocketUnit(std::string_view unit);

// What brings a unit of restart_on_ip back under systemd: `systemctl start`
// for a socket (a no-op when it listens; restarting an Accept=no socket
// whose service runs is refused and leaves the socket stopped, so sshd
// binds every address at its next restart), `systemctl restart` for the
// rest.
std::vector<std::string> SystemctlCommandForUnit(const std::string& unit);

// The unit that restart_command restarts through systemd: `systemctl
// restart UNIT` (systemctl by any path); nullopt for any other command (an
// init script, a wrapper), which leaves the daemon without a way to ask.
std::optional<std::string> SystemdUnitOfRestartCommand(
    const std::vector<std::string>& restart_command);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_SERVICE_STATE_H_
