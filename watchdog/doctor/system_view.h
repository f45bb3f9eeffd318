// What `tswatchdog doctor` reads of a systemd host, read once: the units it
// judges, the manager's defaults, tailscaled's LocalAPI socket. The checks
// (checks.h) are pure functions of this view; a file that cannot be read
// stops the load with an error naming it.
#ifndef TSWATCHDOG_WATCHDOG_DOCTOR_SYSTEM_VIEW_H_
#define TSWATCHDOG_WATCHDOG_DOCTOR_SYSTEM_VIEW_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"
#include "watchdog/doctor/unit_files.h"

namespace watchdog {

inline constexpr char kTailscaledUnit[] = "tailscaled.service";
inline constexpr char kTswatchdogUnit[] = "tswatchdog.service";

// DefaultStartLimit* of system.conf and system.conf.d (systemd's built-in
// 10s/5 otherwise).
struct ManagerDefaults {
  std::chrono::microseconds start_limit_interval{std::chrono::seconds(10)};
  int start_limit_burst = 5;
};

struct LocalApiSocket {
  std::string path;   // system path
  unsigned mode = 0;  // permission bits
};

struct SystemView {
  // tailscaled.service; nullopt when it is not found or masked, and
  // `tailscaled_absent` says which.
  std::optional<LoadedUnit> tailscaled;
  std::string tailscaled_absent;
  // Read only when tailscaled is there: what network-online.target pulls
  // in, and else the first wait-online service whose network manager is
  // installed; the manager's start-limit defaults.
  std::vector<std::string> network_online_providers;
  std::string wait_online_candidate;
  // What tailscaled.service's .wants/ and .requires/ start along with it.
  std::vector<std::string> tailscaled_wants;
  ManagerDefaults manager;
  // Every .socket, then every .service, but tailscaled and tswatchdog;
  // masked ones and aliases (a second name of one fragment) left out.
  std::vector<LoadedUnit> units;
  // tswatchdog.service; nullopt when there is none or it is masked.
  std::optional<LoadedUnit> tswatchdog;
  // The first of kDefaultSocketPaths that is a socket.
  std::optional<LocalApiSocket> localapi_socket;
};

// The view, or the error of a unit or manager file that cannot be read.
Expected<SystemView, SystemError> LoadSystemView(const UnitTree& tree);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DOCTOR_SYSTEM_VIEW_H_
