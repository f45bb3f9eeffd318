#include "watchdog/doctor/doctor.h"

#include <filesystem>
#include <sstream>

#include "watchdog/doctor/checks.h"
#include "watchdog/doctor/system_view.h"

namespace watchdog {

namespace fs = std::filesystem;

Expected<DoctorReport, SystemError> Diagnose(const DoctorInputs& inputs) {
  UnitTree tree(inputs.root);
  DoctorReport report;
  report.root = tree.root();
  std::error_code ec;
  if (!fs::is_directory(tree.root(), ec)) {
    return SystemError::Problem("root " + inputs.root + " is not a directory");
  }
  if (!tree.HasSystemd()) {
    if (fs::exists(tree.Host("/etc/init.d/tailscale"), ec)) {
      report.system = DoctorReport::System::kOpenWrt;
      report.notes.push_back(
          "OpenWrt (procd, /etc/init.d/tailscale, no systemd): there are no "
          "unit files to check. procd starts tailscale (START=80) before "
          "tswatchdog (START=90), both as root; the late-uplink race is "
          "what tswatchdog itself handles, and restart_on_ip uses "
          "/etc/init.d/NAME restart.");
      return report;
    }
    return SystemError::Problem("no systemd unit directory (" +
                                UnitSearchPath().front() +
                                ", ...) and no /etc/init.d/tailscale under " +
                                tree.root() + ": nothing to diagnose");
  }
  const Expected<SystemView, SystemError> view = LoadSystemView(tree);
  if (!view) return view.error();
  for (DoctorCheck check : kChecks) check(*view, inputs, &report);
  return report;
}

std::string FormatReport(const DoctorReport& report) {
  std::string out;
  const std::string where = report.root == "/" ? "" : " under " + report.root;
  if (report.system == DoctorReport::System::kOpenWrt) {
    out += "tswatchdog doctor: OpenWrt" + where +
           ": nothing to check for units.\n";
  } else if (report.findings.empty()) {
    out += "tswatchdog doctor: no problems found in the systemd units" + where +
           ".\n";
  } else {
    const size_t n = report.findings.size();
    out += "tswatchdog doctor: " + std::to_string(n) + " problem" +
           (n == 1 ? "" : "s") + " in the systemd units" + where +
           (where.empty() ? "" : " (paths below as that system sees them)") +
           ".\n";
  }
  for (const DoctorFinding& f : report.findings) {
    out += "\n[" + f.id + "] " + f.what + "\n";
    out += "  why: " + f.why + "\n";
    const char* label = "  fix: ";
    auto line = [&](const std::string& text) {
      out += label + text + "\n";
      label = "       ";
    };
    for (const std::string& step : f.steps) line(step);
    for (const FixFile& file : f.files) {
      line("create " + file.path + ":");
      std::istringstream content(file.content);
      for (std::string l; std::getline(content, l);) {
        out += "         | " + l + "\n";
      }
    }
    for (const std::string& command : f.commands) line("run: " + command);
  }
  if (!report.notes.empty()) {
    out += "\nchecked:\n";
    for (const std::string& note : report.notes) out += "  - " + note + "\n";
  }
  return out;
}

nlohmann::json ReportJson(const DoctorReport& report) {
  nlohmann::json findings = nlohmann::json::array();
  for (const DoctorFinding& f : report.findings) {
    nlohmann::json files = nlohmann::json::array();
    for (const FixFile& file : f.files) {
      files.push_back({{"path", file.path}, {"content", file.content}});
    }
    findings.push_back(
        {{"id", f.id},
         {"unit", f.unit},
         {"what", f.what},
         {"why", f.why},
         {"fix",
          {{"steps", f.steps}, {"files", files}, {"commands", f.commands}}}});
  }
  return {
      {"root", report.root},
      {"system",
       report.system == DoctorReport::System::kOpenWrt ? "openwrt" : "systemd"},
      {"findings", findings},
      {"notes", report.notes}};
}

}  // namespace watchdog
