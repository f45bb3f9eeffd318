#include "watchdog/daemon/service_probe.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace watchdog {

void SystemctlServiceProbe::Probe(const std::string& unit, Callback done) {
  std::vector<std::string> argv = {"systemctl", "show"};
  for (std::string_view property : kSystemctlShowProperties) {
    argv.push_back("-p");
    argv.emplace_back(property);
  }
  argv.push_back("--");
  argv.push_back(unit);
  processes_.Run(argv, std::chrono::seconds(10), {},
                 [unit, done](const ProcessResult& result) {
                   if (!result.ok()) {
                     spdlog::warn("systemctl show {} failed: {}, ignoring",
                                  unit, result.Describe());
                     return done(ServiceCondition::kUnknown);
                   }
                   done(JudgeService(ParseSystemctlShow(result.output)));
                 });
}

}  // namespace watchdog
