// The checks of `tswatchdog doctor`: pure functions of the system's view
// (system_view.h) and doctor's inputs that add findings (with their fixes)
// and notes to the report. Adding a check is one function and one row of
// kChecks.
#ifndef TSWATCHDOG_WATCHDOG_DOCTOR_CHECKS_H_
#define TSWATCHDOG_WATCHDOG_DOCTOR_CHECKS_H_

#include <string>
#include <string_view>

#include "watchdog/doctor/doctor.h"
#include "watchdog/doctor/system_view.h"

namespace watchdog {

// /etc/systemd/system/UNIT.d/FILE: where a fix's drop-in goes.
std::string DropInPath(const std::string& unit, std::string_view file);

using DoctorCheck = void (*)(const SystemView& view, const DoctorInputs& in,
                             DoctorReport* report);

// Which tailscaled.service was read (a note).
void NoteTailscaled(const SystemView& view, const DoctorInputs& in,
                    DoctorReport* report);
// tailscaled ordered after network-online.target, and that target waiting
// for the network (the late-interface boot race).
void CheckNetworkOnline(const SystemView& view, const DoctorInputs& in,
                        DoctorReport* report);
// tailscaled's start limits: a crash loop when disabled with a fast
// Restart=, or a limit tswatchdog's own restarts can run into.
void CheckStartLimits(const SystemView& view, const DoctorInputs& in,
                      DoctorReport* report);
// Units bound to the Tailscale address, and units ordered after tailscaled
// but before sockets.target (an ordering cycle).
void CheckBoundUnits(const SystemView& view, const DoctorInputs& in,
                     DoctorReport* report);
// Whether tailscaled lets tswatchdog's user make write calls.
void CheckLocalApiAccess(const SystemView& view, const DoctorInputs& in,
                         DoctorReport* report);

// In the order their findings and notes are reported.
inline constexpr DoctorCheck kChecks[] = {
    NoteTailscaled,  CheckNetworkOnline,  CheckStartLimits,
    CheckBoundUnits, CheckLocalApiAccess,
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DOCTOR_CHECKS_H_
