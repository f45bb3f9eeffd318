// `tswatchdog status [--json]`: the running daemon's view, from its state file.
#include <signal.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/flags.h"
#include "watchdog/cli/commands.h"
#include "watchdog/cli/options.h"
#include "watchdog/daemon/mwan3_json.h"
#include "watchdog/daemon/state_file.h"

namespace watchdog {
namespace {

using nlohmann::json;

constexpr const char* kOpenWrtStateFile = "/var/run/tswatchdog/state.json";

// The state file, or the copy the daemon set aside when it could not write.
bool HasStateFile(const std::string& path) {
  return std::filesystem::exists(path) ||
         std::filesystem::exists(StaleCopyPath(path));
}

// How long ago `unix_ms` was: "3m12s".
std::string Elapsed(const json& unix_ms) {
  if (!unix_ms.is_number()) return "?";
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return FormatAgo(now - std::chrono::milliseconds(unix_ms.get<int64_t>()));
}

std::string Text(const json& value, const char* fallback = "-") {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return fallback;
  return value.dump();
}

std::string Egress(const json& e) {
  if (!e.is_object() || e["dev"].is_null()) {
    return "none" + (e.is_object() && e["error"].is_string()
                         ? " (" + e["error"].get<std::string>() + ")"
                         : std::string());
  }
  std::string text = "dev " + Text(e["dev"]);
  if (e["gateway"].is_string()) text += " via " + Text(e["gateway"]);
  text += " src " + Text(e["source"]);
  text += e["carrier"] == true ? " carrier up" : " carrier down";
  text += e["usable"] == true ? " [usable]" : " [unusable]";
  return text;
}

bool DaemonAlive(const json& pid) {
  return pid.is_number_integer() &&
         (kill(pid.get<pid_t>(), 0) == 0 || errno == EPERM);
}

void PrintHuman(const json& s) {
  std::printf("state:      %s for %s (since %s)\n", Text(s["state"]).c_str(),
              Elapsed(s["since_unix_ms"]).c_str(), Text(s["since"]).c_str());
  if (s.value("dry_run", false))
    std::printf("            (dry run: no action is taken)\n");
  if (!DaemonAlive(s["pid"])) {
    std::printf(
        "daemon:     not running (pid %s is gone); this is its last view\n",
        Text(s["pid"]).c_str());
  }
  const json& uplink = s["uplink"];
  std::printf("uplink v4:  %s\n", Egress(uplink["v4"]).c_str());
  std::printf("uplink v6:  %s\n", Egress(uplink["v6"]).c_str());
  const json& ts = s["tailscale"];
  std::string warnings;
  for (const auto& w : ts["warnings"])
    warnings += (warnings.empty() ? "" : ", ") + Text(w);
  std::printf("tailscale:  %s, %s, verdict %s%s%s\n",
              Text(ts["backend_state"], "unknown").c_str(),
              ts["online"] == true    ? "online"
              : ts["online"] == false ? "offline"
                                      : "online unknown",
              Text(ts["verdict"], "none yet").c_str(),
              warnings.empty() ? "" : "; warnings: ", warnings.c_str());
  if (ts["error"].is_string())
    std::printf("            %s\n", Text(ts["error"]).c_str());
  const json& action = s["last_action"];
  if (action.is_object()) {
    std::printf(
        "last step:  %s %s ago (%s)%s%s\n", Text(action["step"]).c_str(),
        Elapsed(action["at_unix_ms"]).c_str(),
        action["finished"] == true ? (action["ok"] == true ? "ok" : "failed")
                                   : "running",
        Text(action["error"], "").empty() ? "" : ": ",
        Text(action["error"], "").c_str());
  } else {
    std::printf("last step:  none\n");
  }
  const json& c = s["counters"];
  std::string actions;
  for (const auto& [step, count] : c["actions"].items()) {
    actions += (actions.empty() ? "" : ", ") + step + " " + count.dump();
  }
  std::printf("counters:   %s uplink changes, %s recoveries, actions: %s\n",
              Text(c["uplink_changes"], "0").c_str(),
              Text(c["recoveries"], "0").c_str(),
              actions.empty() ? "none" : actions.c_str());
  for (const std::string& line : Mwan3StatusLines(s)) {
    std::printf("%s\n", line.c_str());
  }
  // The daemon writes on changes only, so an old time is normal; the age
  // makes a stale file (one the daemon could not replace) easy to judge.
  std::printf("updated:    %s (%s ago)\n", Text(s["updated"]).c_str(),
              Elapsed(s["updated_unix_ms"]).c_str());
}

// The state file, or the copy the daemon set aside when it could not
// write it (disk full, read-only directory): shown, marked stale, rather
// than nothing. nullopt and `error` set when neither can be read.
std::optional<json> ReadStateOrStaleCopy(const std::string& path, bool* stale,
                                         std::string* error) {
  std::optional<json> state = ReadStateFile(path, error);
  *stale = false;
  if (!state) {
    std::string ignored;
    state = ReadStateFile(StaleCopyPath(path), &ignored);
    *stale = state.has_value();
  }
  return state;
}

}  // namespace

int RunStatusCommand(int argc, char** argv) {
  cxxopts::Options options("tswatchdog status",
                           "Show the running daemon's view (its state file).");
  config::AddOptions(options);
  options.add_options()("json", "print the state file as JSON")(
      "h,help", "show this help");
  auto parsed = ParseOptions(options, argc, argv);
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  const cxxopts::ParseResult& args = std::get<cxxopts::ParseResult>(parsed);
  config::Result<config::Config> loaded = config::Load(args);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tswatchdog: %s\n", loaded.error().ToString().c_str());
    return 2;
  }
  std::string path = loaded.value().state_file;
  if (path.empty()) {
    std::fprintf(stderr,
                 "tswatchdog status: state_file is off in the config\n");
    return 2;
  }
  // OpenWrt has no /run: its init script puts the file under /var/run (where
  // Debian's /var/run is a symlink to /run anyway).
  if (path == config::Config{}.state_file && !HasStateFile(path) &&
      HasStateFile(kOpenWrtStateFile)) {
    path = kOpenWrtStateFile;
  }
  std::string error;
  bool stale = false;
  std::optional<json> state = ReadStateOrStaleCopy(path, &stale, &error);
  if (!state) {
    std::fprintf(stderr,
                 "tswatchdog status: %s (is `tswatchdog run` running?)\n",
                 error.c_str());
    return 2;
  }
  if (stale) {
    std::fprintf(stderr,
                 "tswatchdog status: STALE: %s is missing; the daemon could "
                 "not write it (see its log) and set its last copy aside "
                 "in %s, shown here\n",
                 path.c_str(), StaleCopyPath(path).c_str());
  }
  if (args.count("json")) {
    (*state)["daemon_running"] = DaemonAlive((*state)["pid"]);
    (*state)["stale"] = stale;
    std::cout << state->dump(2) << std::endl;
  } else {
    PrintHuman(*state);
  }
  return stale ? 1 : 0;
}

}  // namespace watchdog
