#include "watchdog/doctor/system_view.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "watchdog/core/tailscale_types.h"

namespace watchdog {
namespace {

namespace fs = std::filesystem;

Expected<void, SystemError> LoadManagerDefaults(const UnitTree& tree,
                                                ManagerDefaults* defaults) {
  std::vector<std::string> files = {"/etc/systemd/system.conf"};
  std::error_code ec;
  std::set<std::string> dropins;
  for (const char* dir :
       {"/usr/lib/systemd/system.conf.d", "/etc/systemd/system.conf.d"}) {
    for (const auto& item : fs::directory_iterator(tree.Host(dir), ec)) {
      if (EndsWith(item.path().string(), ".conf")) {
        dropins.insert(std::string(dir) + "/" +
                       item.path().filename().string());
      }
    }
  }
  files.insert(files.end(), dropins.begin(), dropins.end());
  for (const std::string& file : files) {
    if (!fs::exists(tree.Host(file), ec)) continue;
    auto text = ReadFile(tree.Host(file), file);
    if (!text) return std::move(text).error();
    for (const UnitEntry& e : ParseUnitText(*text, file)) {
      if (e.section != "Manager") continue;
      if (e.key == "DefaultStartLimitIntervalSec") {
        if (auto span = ParseTimeSpan(e.value)) {
          defaults->start_limit_interval = *span;
        }
      } else if (e.key == "DefaultStartLimitBurst") {
        defaults->start_limit_burst = std::atoi(e.value.c_str());
      }
    }
  }
  return {};
}

// Whether `name` is there (found and readable).
bool UnitExists(const UnitTree& tree, const std::string& name) {
  auto unit = tree.Load(name);
  return unit && unit->has_value();
}

// network-online.target means something only with a wait-online service.
void LoadNetworkOnline(const UnitTree& tree, SystemView* view) {
  view->network_online_providers = tree.WantedBy("network-online.target");
  if (!view->network_online_providers.empty()) return;
  static constexpr std::pair<const char*, const char*> kWaitOnline[] = {
      {"NetworkManager-wait-online.service", "NetworkManager.service"},
      {"systemd-networkd-wait-online.service", "systemd-networkd.service"},
      {"ifupdown-wait-online.service", "networking.service"}};
  for (const auto& [service, manager] : kWaitOnline) {
    if (UnitExists(tree, service) && UnitExists(tree, manager)) {
      view->wait_online_candidate = service;
      return;
    }
  }
}

Expected<void, SystemError> LoadTailscaled(const UnitTree& tree,
                                           SystemView* view) {
  auto loaded = tree.Load(kTailscaledUnit);
  if (!loaded) return std::move(loaded).error();
  std::optional<LoadedUnit>& unit = *loaded;
  if (!unit || unit->masked) {
    view->tailscaled_absent = unit ? "is masked" : "not found";
    return {};
  }
  view->tailscaled = std::move(unit);
  view->tailscaled_wants = tree.WantedBy(kTailscaledUnit);
  LoadNetworkOnline(tree, view);
  return LoadManagerDefaults(tree, &view->manager);
}

Expected<void, SystemError> LoadOtherUnits(const UnitTree& tree,
                                           SystemView* view) {
  std::vector<std::string> names = tree.List(".socket");
  for (const std::string& s : tree.List(".service")) names.push_back(s);
  std::set<std::string> seen;  // fragment files: an alias is one unit
  for (const std::string& name : names) {
    if (name == kTailscaledUnit || name == kTswatchdogUnit) continue;
    auto loaded = tree.Load(name);
    if (!loaded) return std::move(loaded).error();
    std::optional<LoadedUnit>& unit = *loaded;
    if (!unit || unit->masked) continue;
    if (!unit->fragment_file.empty() &&
        !seen.insert(unit->fragment_file).second) {
      continue;
    }
    view->units.push_back(std::move(*unit));
  }
  return {};
}

std::optional<LocalApiSocket> FindLocalApiSocket(const UnitTree& tree) {
  for (std::string_view path : kDefaultSocketPaths) {
    struct stat st {};
    const std::string host = tree.Host(std::string(path));
    if (stat(host.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      return LocalApiSocket{std::string(path), st.st_mode & 07777u};
    }
  }
  return std::nullopt;
}

}  // namespace

Expected<SystemView, SystemError> LoadSystemView(const UnitTree& tree) {
  SystemView view;
  if (auto loaded = LoadTailscaled(tree, &view); !loaded) return loaded.error();
  if (auto loaded = LoadOtherUnits(tree, &view); !loaded) return loaded.error();
  auto wd = tree.Load(kTswatchdogUnit);
  if (!wd) return std::move(wd).error();
  if (*wd && !(*wd)->masked) view.tswatchdog = *std::move(wd);
  view.localapi_socket = FindLocalApiSocket(tree);
  return view;
}

}  // namespace watchdog
