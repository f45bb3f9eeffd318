#include "watchdog/core/ladder.h"

#include <array>
#include <utility>

namespace watchdog {
namespace {

constexpr std::array<std::pair<LadderStep, std::string_view>, 5> kStepNames = {{
    {LadderStep::kRebind, "rebind"},
    {LadderStep::kStart, "start"},
    {LadderStep::kReup, "reup"},
    {LadderStep::kRestart, "restart"},
    {LadderStep::kConntrack, "conntrack"},
}};

}  // namespace

std::string_view StepName(LadderStep step) {
  for (const auto& [known, name] : kStepNames) {
    if (known == step) return name;
  }
  return "unknown";
}

std::optional<LadderStep> ParseStep(std::string_view name) {
  for (const auto& [step, known] : kStepNames) {
    if (known == name) return step;
  }
  return std::nullopt;
}

std::string KnownStepNames() {
  std::string joined;
  for (const auto& [step, name] : kStepNames) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

bool IsDisruptive(LadderStep step) {
  return step == LadderStep::kReup || step == LadderStep::kRestart;
}

}  // namespace watchdog
