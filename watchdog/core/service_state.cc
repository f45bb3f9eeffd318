#include "watchdog/core/service_state.h"

namespace watchdog {

ServiceState ParseSystemctlShow(std::string_view text) {
  ServiceState state;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{}
                                         : text.substr(end + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    const std::string value(line.substr(eq + 1));
    if (key == "LoadState") state.load_state = value;
    if (key == "ActiveState") state.active_state = value;
    if (key == "SubState") state.sub_state = value;
    if (key == "Result") state.result = value;
    if (key == "Job") state.job = value;
  }
  return state;
}

ServiceCondition JudgeService(const ServiceState& state) {
  if (state.load_state != "loaded") return ServiceCondition::kUnknown;
  if (state.active_state == "failed") return ServiceCondition::kFailed;
  if (state.active_state == "inactive") {
    // A restart job stops the unit, then starts it: in between it is
    // inactive with the job still pending. That is no one's intent.
    if (!state.job.empty()) return ServiceCondition::kUp;
    return state.result == "success" ? ServiceCondition::kStoppedOnPurpose
                                     : ServiceCondition::kFailed;
  }
  if (state.active_state.empty()) return ServiceCondition::kUnknown;
  return ServiceCondition::kUp;  // active, activating, reloading, deactivating
}

std::string_view ServiceConditionName(ServiceCondition condition) {
  switch (condition) {
    case ServiceCondition::kUnknown:
      return "unknown";
    case ServiceCondition::kUp:
      return "up";
    case ServiceCondition::kStoppedOnPurpose:
      return "stopped";
    case ServiceCondition::kFailed:
      return "failed";
  }
  return "unknown";
}

bool IsSocketUnit(std::string_view unit) {
  constexpr std::string_view kSuffix = ".socket";
  return unit.size() > kSuffix.size() &&
         unit.substr(unit.size() - kSuffix.size()) == kSuffix;
}

std::vector<std::string> SystemctlCommandForUnit(const std::string& unit) {
  // "--": a unit name is never taken for an option.
  return {"systemctl", IsSocketUnit(unit) ? "start" : "restart", "--", unit};
}

std::optional<std::string> SystemdUnitOfRestartCommand(
    const std::vector<std::string>& restart_command) {
  if (restart_command.size() != 3 || restart_command[1] != "restart") {
    return std::nullopt;
  }
  const std::string& program = restart_command[0];
  const size_t slash = program.rfind('/');
  const std::string_view base =
      slash == std::string::npos ? std::string_view(program)
                                 : std::string_view(program).substr(slash + 1);
  if (base != "systemctl" || restart_command[2].empty() ||
      restart_command[2][0] == '-') {
    return std::nullopt;
  }
  return restart_command[2];
}

}  // namespace watchdog
