// `tswatchdog doctor`: the boot-ordering problems of a systemd host
// (README, "tswatchdog doctor": tailscaled before the network is online;
// units bound to the Tailscale address; tailscaled's start limits;
// tswatchdog's access to the LocalAPI), each with its fix. It loads the
// system's view once (system_view.h: unit files, manager defaults, the
// LocalAPI socket) and runs a table of pure checks over it (checks.h). No
// systemctl, no D-Bus: everything comes from files under a root, so tests
// run it on a tree they write.
#ifndef TSWATCHDOG_WATCHDOG_DOCTOR_DOCTOR_H_
#define TSWATCHDOG_WATCHDOG_DOCTOR_DOCTOR_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"
#include "watchdog/doctor/unit_files.h"

namespace watchdog {

// The drop-ins in contrib/systemd/, byte for byte (a test compares them).
// tailscaled after network-online.target (DESIGN problem 2).
inline constexpr std::string_view kWaitOnlineDropInName = "10-wait-online.conf";
inline constexpr std::string_view kWaitOnlineDropIn =
    "# Start tailscaled once the network is online, so it does not come up\n"
    "# with no uplink and stay stuck offline (installed by tswatchdog).\n"
    "[Unit]\n"
    "Wants=network-online.target\n"
    "After=network-online.target\n";
// A socket on the Tailscale address (DESIGN problem 3): bind before the
// address exists and keep listening through its changes; no ordering on
// tailscaled, which would be a cycle.
inline constexpr std::string_view kFreeBindDropInName =
    "10-tailscale-freebind.conf";
inline constexpr std::string_view kFreeBindDropIn =
    "# Listen on the Tailscale address even before tailscaled has assigned\n"
    "# it, and through its going and coming back: a socket needs nothing\n"
    "# else. No BindsTo=/Requires=/After= on tailscaled.service: a socket is\n"
    "# ordered before sockets.target, so that would be an ordering cycle\n"
    "# (installed by tswatchdog).\n"
    "[Socket]\n"
    "FreeBind=yes\n";

// A Tailscale address (100.64.0.0/10, fd7a:115c:a1e0::/48) in a listen
// value or command line: "100.101.102.103:22", "[fd7a:115c:a1e0::1]:22",
// "--listen=100.101.102.103". The first one found, or nullopt.
std::optional<std::string> FindTailscaleAddress(std::string_view text);

struct FixFile {
  std::string path;  // system path
  std::string content;
};

struct DoctorFinding {
  std::string id;    // stable: "tailscaled-network-online", ...
  std::string unit;  // the unit it is about ("" when none)
  std::string what;
  std::string why;                 // one sentence: the consequence
  std::vector<std::string> steps;  // edits to existing files, in order
  std::vector<FixFile> files;      // files to create
  std::vector<std::string> commands;
};

// What doctor knows besides the unit files.
struct DoctorInputs {
  std::string root = "/";
  // From tswatchdog's config (or its defaults).
  std::string config_path = "/etc/tswatchdog/tswatchdog.toml";
  std::vector<std::string> restart_on_ip;
  int max_disruptive_per_hour = 3;
  bool ladder_has_restart = true;
  // Who runs `tswatchdog run` when no tswatchdog.service exists (doctor's
  // own effective user, for a daemon started by hand).
  std::string self_user = "root";
  unsigned self_uid = 0;
  // tailscaled's operator (`tailscale set --operator=USER`), when known.
  std::optional<std::string> operator_user;
};

struct DoctorReport {
  enum class System { kSystemd, kOpenWrt };
  System system = System::kSystemd;
  std::string root;
  std::vector<DoctorFinding> findings;
  std::vector<std::string> notes;  // what was checked or skipped, and why
};

// Reads the units under inputs.root and reports each problem with its fix.
// The error says why the root cannot be diagnosed (no systemd and no
// OpenWrt, an unreadable unit file).
Expected<DoctorReport, SystemError> Diagnose(const DoctorInputs& inputs);

// One block per finding: what, why, fix; then the notes.
std::string FormatReport(const DoctorReport& report);
nlohmann::json ReportJson(const DoctorReport& report);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DOCTOR_DOCTOR_H_
