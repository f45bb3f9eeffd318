// `tswatchdog status [--json]`: the running daemon's view, from its state file.
#include <signal.h>
#include <sys/statvfs.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
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

// object[key], or null when `object` is not an object or has no such key: a
// state file is read as it is (an old version's, a truncated one, someone
// else's JSON), and a missing field must not abort `status`.
const json& Field(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string Text(const json& value, const char* fallback = "-") {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return fallback;
  return value.dump();
}

std::string Egress(const json& e) {
  if (!e.is_object() || Field(e, "dev").is_null()) {
    return "none" + (e.is_object() && Field(e, "error").is_string()
                         ? " (" + Field(e, "error").get<std::string>() + ")"
                         : std::string());
  }
  std::string text = "dev " + Text(Field(e, "dev"));
  if (Field(e, "gateway").is_string())
    text += " via " + Text(Field(e, "gateway"));
  text += " src " + Text(Field(e, "source"));
  text += Field(e, "carrier") == true ? " carrier up" : " carrier down";
  text += Field(e, "usable") == true ? " [usable]" : " [unusable]";
  return text;
}

std::string Comm(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// The pid in the file is a live tswatchdog: a process of that pid whose name
// is ours (after a crash the pid may be some other program's by now; where
// /proc hides it, the process existing must do).
bool DaemonAlive(const json& pid) {
  if (!pid.is_number_integer() || pid.get<int64_t>() <= 0) return false;
  if (kill(pid.get<pid_t>(), 0) != 0 && errno != EPERM) return false;
  const std::string theirs = Comm(std::to_string(pid.get<int64_t>()));
  return theirs.empty() || theirs == Comm("self");
}

// Why a state file that is there cannot be the daemon's current view, or "".
std::string NotCurrent(const std::string& path, const json& state) {
  if (!DaemonAlive(Field(state, "pid"))) {
    return "the daemon that wrote it (pid " + Text(Field(state, "pid")) +
           ") is not running";
  }
  const std::filesystem::path dir =
      std::filesystem::path(path).parent_path().empty()
          ? std::filesystem::path(".")
          : std::filesystem::path(path).parent_path();
  struct statvfs fs {};
  if (statvfs(dir.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY) != 0) {
    // The daemon could neither replace it nor set it aside.
    return dir.string() + " is read-only: the daemon cannot replace it";
  }
  return "";
}

// tailscaled's connections as the last check judged them, the diagnosis
// and the last bugreport marker (issue 12 item 6).
void PrintDiagnosis(const json& s) {
  const json& conns = Field(s, "connections");
  if (conns.is_object()) {
    if (Field(conns, "known") != true) {
      std::printf("connections: unknown (no socket dump yet, or it failed)\n");
    }
    // The daemon rewrites the file when a verdict or its signs change, not
    // when only the ages in the words move (README, "State file"): they are
    // as of `checked`. Older daemons wrote no `checked`.
    const json& checked = Field(conns, "checked_unix_ms");
    if (checked.is_number() && !Field(conns, "list").empty()) {
      std::printf(
          "connections: as checked %s ago (%s)%s\n", Elapsed(checked).c_str(),
          Text(Field(conns, "checked")).c_str(),
          DaemonAlive(Field(s, "pid")) ? ", the same at every check since"
                                       : "");
    }
    for (const auto& c : Field(conns, "list")) {
      std::printf("connection: %s %s: %s\n", Text(Field(c, "kind")).c_str(),
                  Text(Field(c, "verdict")).c_str(),
                  Text(Field(c, "evidence")).c_str());
    }
    for (const auto& f : Field(conns, "findings")) {
      std::printf("finding:    %s: %s\n", Text(Field(f, "source")).c_str(),
                  Text(Field(f, "evidence")).c_str());
    }
  }
  const json& d = Field(s, "diagnosis");
  if (d.is_object()) {
    std::printf("diagnosis:  %s\n", Text(Field(d, "summary")).c_str());
  }
  const json& marker = Field(s, "support_marker");
  if (marker.is_object()) {
    std::printf("bugreport:  %s %s ago (%s)\n",
                Text(Field(marker, "marker")).c_str(),
                Elapsed(Field(marker, "at_unix_ms")).c_str(),
                Text(Field(marker, "note")).c_str());
  }
}

void PrintHuman(const json& s) {
  std::printf("state:      %s for %s (since %s)\n",
              Text(Field(s, "state")).c_str(),
              Elapsed(Field(s, "since_unix_ms")).c_str(),
              Text(Field(s, "since")).c_str());
  if (s.value("dry_run", false))
    std::printf("            (dry run: no action is taken)\n");
  if (!DaemonAlive(Field(s, "pid"))) {
    std::printf(
        "daemon:     not running (pid %s is gone); this is its last view\n",
        Text(Field(s, "pid")).c_str());
  }
  const json& uplink = Field(s, "uplink");
  std::printf("uplink v4:  %s\n", Egress(Field(uplink, "v4")).c_str());
  std::printf("uplink v6:  %s\n", Egress(Field(uplink, "v6")).c_str());
  const json& ts = Field(s, "tailscale");
  std::string warnings;
  for (const auto& w : Field(ts, "warnings"))
    warnings += (warnings.empty() ? "" : ", ") + Text(w);
  std::printf("tailscale:  %s, %s, verdict %s%s%s\n",
              Text(Field(ts, "backend_state"), "unknown").c_str(),
              Field(ts, "online") == true    ? "online"
              : Field(ts, "online") == false ? "offline"
                                             : "online unknown",
              Text(Field(ts, "verdict"), "none yet").c_str(),
              warnings.empty() ? "" : "; warnings: ", warnings.c_str());
  if (Field(ts, "error").is_string())
    std::printf("            %s\n", Text(Field(ts, "error")).c_str());
  PrintDiagnosis(s);
  const json& action = Field(s, "last_action");
  if (action.is_object()) {
    std::printf("last step:  %s %s ago (%s)%s%s\n",
                Text(Field(action, "step")).c_str(),
                Elapsed(Field(action, "at_unix_ms")).c_str(),
                Field(action, "finished") == true
                    ? (Field(action, "ok") == true ? "ok" : "failed")
                    : "running",
                Text(Field(action, "error"), "").empty() ? "" : ": ",
                Text(Field(action, "error"), "").c_str());
  } else {
    std::printf("last step:  none\n");
  }
  const json& c = Field(s, "counters");
  std::string actions;
  for (const auto& [step, count] : Field(c, "actions").items()) {
    actions += (actions.empty() ? "" : ", ") + step + " " + count.dump();
  }
  std::printf("counters:   %s uplink changes, %s recoveries, actions: %s\n",
              Text(Field(c, "uplink_changes"), "0").c_str(),
              Text(Field(c, "recoveries"), "0").c_str(),
              actions.empty() ? "none" : actions.c_str());
  for (const std::string& line : Mwan3StatusLines(s)) {
    std::printf("%s\n", line.c_str());
  }
  // The daemon writes on changes only, so an old time is normal; the age
  // makes a stale file (one the daemon could not replace) easy to judge.
  std::printf("updated:    %s (%s ago)\n", Text(Field(s, "updated")).c_str(),
              Elapsed(Field(s, "updated_unix_ms")).c_str());
}

// Shows `state` (read from `path`, or its set-aside copy when `stale`);
// returns the exit status: 1 for a view that is not current (set aside, or
// not being updated), else 0.
int Show(const std::string& path, json state, bool stale, bool as_json) {
  if (stale) {
    std::fprintf(stderr,
                 "tswatchdog status: STALE: %s is missing; the daemon could "
                 "not write it (see its log) and set its last copy aside "
                 "in %s, shown here\n",
                 path.c_str(), StaleCopyPath(path).c_str());
  }
  const std::string not_current = stale ? "" : NotCurrent(path, state);
  if (!not_current.empty()) {
    std::fprintf(stderr, "tswatchdog status: NOT CURRENT: %s: %s\n",
                 path.c_str(), not_current.c_str());
  }
  if (as_json) {
    state["daemon_running"] = DaemonAlive(Field(state, "pid"));
    state["stale"] = stale || !not_current.empty();
    std::cout << state.dump(2) << std::endl;
  } else {
    PrintHuman(state);
  }
  return stale || !not_current.empty() ? 1 : 0;
}

// The state file, or the copy the daemon set aside when it could not
// write it (disk full, read-only directory): shown, marked stale, rather
// than nothing. The error is the state file's when neither can be read.
struct ShownState {
  json state;
  bool stale = false;
};

Expected<ShownState, SystemError> ReadStateOrStaleCopy(
    const std::string& path) {
  Expected<json, SystemError> state = ReadStateFile(path);
  if (state) return ShownState{*std::move(state), false};
  Expected<json, SystemError> stale = ReadStateFile(StaleCopyPath(path));
  if (stale) return ShownState{*std::move(stale), true};
  return std::move(state).error();
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
  Expected<ShownState, SystemError> shown = ReadStateOrStaleCopy(path);
  if (!shown) {
    std::fprintf(stderr,
                 "tswatchdog status: %s (is `tswatchdog run` running?)\n",
                 shown.error().ToString().c_str());
    return 2;
  }
  return Show(path, std::move(shown->state), shown->stale,
              args.count("json") > 0);
}

}  // namespace watchdog
