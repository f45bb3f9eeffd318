// `tswatchdog doctor [--root DIR] [--json] [--config FILE] [--operator USER]`:
// reads the unit files (never systemctl) and reports each boot-ordering
// problem with its exact fix. Exit 0 clean, 1 findings, 2 error.
//
// The operator: tailscaled keeps it in its prefs (OperatorUser); doctor does
// not ask the LocalAPI, so a non-root tswatchdog counts as read-only unless
// --operator names its user (`tailscale debug prefs` shows OperatorUser).
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "config/config.h"
#include "config/flags.h"
#include "watchdog/cli/commands.h"
#include "watchdog/cli/options.h"
#include "watchdog/doctor/doctor.h"

namespace watchdog {
namespace {

// `--config PATH` / `--config=PATH` in tswatchdog.service's ExecStart.
std::optional<std::string> ConfigFromUnit(const UnitTree& tree) {
  auto unit = tree.Load("tswatchdog.service");
  if (!unit || !*unit) return std::nullopt;
  const UnitEntry* exec = (*unit)->Last("Service", "ExecStart");
  if (exec == nullptr) return std::nullopt;
  std::istringstream words(exec->value);
  for (std::string word; words >> word;) {
    if (word == "--config" && words >> word) return word;
    if (word.rfind("--config=", 0) == 0) return word.substr(9);
  }
  return std::nullopt;
}

// tswatchdog's config: explicit, else the one of tswatchdog.service's
// ExecStart, else the default path if it exists. False (and said) when it
// cannot be read.
bool ReadConfig(const std::string& config_file, DoctorInputs* inputs) {
  UnitTree tree(inputs->root);
  std::string shown = config_file;
  std::string host = config_file;
  if (config_file.empty()) {
    shown =
        ConfigFromUnit(tree).value_or(std::string(config::kDefaultConfigPath));
    host = tree.Host(shown);
  }
  inputs->config_path = shown;
  std::error_code ec;
  if (!config_file.empty() || std::filesystem::exists(host, ec)) {
    config::Result<config::Config> loaded = config::LoadFile(host);
    if (!loaded.ok()) {
      std::fprintf(stderr, "tswatchdog doctor: %s\n",
                   loaded.error().ToString().c_str());
      return false;
    }
    inputs->restart_on_ip = loaded.value().restart_on_ip;
    inputs->max_disruptive_per_hour = loaded.value().max_disruptive_per_hour;
    const auto& ladder = loaded.value().ladder;
    inputs->ladder_has_restart =
        std::find(ladder.begin(), ladder.end(), config::LadderStep::kRestart) !=
        ladder.end();
  }
  return true;
}

}  // namespace

int RunDoctorCommand(int argc, char** argv) {
  cxxopts::Options parser(
      "tswatchdog doctor",
      "Diagnose boot-ordering problems around tailscaled in the systemd unit "
      "files and print the exact fix for each. Exit 0 clean, 1 problems "
      "found, 2 error.");
  std::string root;
  std::string config_file;
  std::string operator_user;
  // clang-format off
  parser.add_options()
      ("root", "diagnose the system under this directory (unit files in "
               "DIR/etc/systemd/system, DIR/usr/lib/systemd/system, ...)",
       cxxopts::value(root)->default_value("/"))
      ("config", "tswatchdog's config, for restart_on_ip and "
                 "max_disruptive_per_hour (default: the --config of "
                 "tswatchdog.service's ExecStart, else "
                 "ROOT/etc/tswatchdog/tswatchdog.toml if present)",
       cxxopts::value(config_file))
      ("operator", "tailscaled's operator user (OperatorUser in its prefs), "
                   "if one is set",
       cxxopts::value(operator_user))
      ("json", "machine-readable output")
      ("h,help", "show this help");
  // clang-format on
  auto parsed = ParseOptions(parser, argc, argv, /*reject_stray=*/true);
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  const cxxopts::ParseResult& args = std::get<cxxopts::ParseResult>(parsed);

  DoctorInputs inputs;
  inputs.root = root;
  if (!ReadConfig(config_file, &inputs)) return kExitError;
  inputs.self_uid = geteuid();
  if (const passwd* pw = getpwuid(inputs.self_uid)) {
    inputs.self_user = pw->pw_name;
  } else {
    inputs.self_user = std::to_string(inputs.self_uid);
  }
  if (!operator_user.empty()) inputs.operator_user = operator_user;

  const Expected<DoctorReport, SystemError> report = Diagnose(inputs);
  if (!report) {
    std::fprintf(stderr, "tswatchdog doctor: %s\n",
                 report.error().ToString().c_str());
    return kExitError;
  }
  if (args.count("json")) {
    std::cout << ReportJson(*report).dump(2) << std::endl;
  } else {
    std::cout << FormatReport(*report);
  }
  return report->findings.empty() ? kExitOk : kExitProblem;
}

}  // namespace watchdog
