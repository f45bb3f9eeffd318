#include "watchdog/core/tailscale_types.h"

#include <array>

namespace watchdog {
namespace {

constexpr std::array<std::string_view, 7> kStateNames = {
    "NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
    "Stopped", "Starting",       "Running",
};

}  // namespace

std::string_view BackendStateName(BackendState state) {
  const auto index = static_cast<size_t>(state);
  return index < kStateNames.size() ? kStateNames[index] : "Unknown";
}

std::optional<BackendState> BackendStateFromName(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<BackendState>(i);
  }
  return std::nullopt;
}

std::optional<BackendState> BackendStateFromInt(int64_t value) {
  if (value < 0 || value >= static_cast<int64_t>(kStateNames.size())) {
    return std::nullopt;
  }
  return static_cast<BackendState>(value);
}

bool IsFellBehind(const Notify& notify) {
  return notify.err_message &&
         notify.err_message->find("fell behind") != std::string::npos;
}

}  // namespace watchdog
