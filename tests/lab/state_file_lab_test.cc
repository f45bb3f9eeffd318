// The state file on flash (README, "State file": when it is written): the
// real `tswatchdog run` in the world, against tailscaled's real control and
// DERP connections, every timer at kScale (probe_interval 750 ms). While
// nothing changes, periodic checks replace neither the state file nor the
// metrics file (the same inode, mtime and ctime), although the ages in the
// checks' words move; `tswatchdog status` still shows ages that move and
// agree with the clock.
#include <sys/stat.h>

#include <cctype>
#include <string>
#include <vector>

#include "tests/lab/world_daemon_lab.h"
#include "watchdog/daemon/snapshot.h"

namespace lab {
namespace {

// A file as stat(2) sees it: a rename onto its path (every atomic write of
// the daemon's) gives another inode and ctime.
struct FileStamp {
  ino_t inode = 0;
  timespec mtime{}, ctime{};
  bool operator==(const FileStamp& o) const {
    return inode == o.inode && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec &&
           ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return {st.st_ino, st.st_mtim, st.st_ctim};
}

// What of the state file must not move unless something real changed: as
// the daemon's StableContent, from the file's side.
json Masked(json state) {
  state.erase("updated");
  state.erase("updated_unix_ms");
  json& connections = state["connections"];
  connections.erase("checked");
  connections.erase("checked_unix_ms");
  for (json& c : connections["list"]) {
    c["evidence"] = watchdog::MaskDurations(c.value("evidence", ""));
  }
  state["diagnosis"]["summary"] =
      watchdog::MaskDurations(state["diagnosis"].value("summary", ""));
  return state;
}

// "850ms", "12s", "3m12s", "2h5m" (FormatAgo) in milliseconds; -1 if not.
int64_t AgoMs(const std::string& text) {
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return -1;
    size_t used = 0;
    const int64_t n = std::stoll(text.substr(i), &used);
    i += used;
    const std::string rest = text.substr(i);
    const std::pair<const char*, int64_t> units[] = {
        {"ms", 1}, {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    bool found = false;
    for (const auto& [unit, ms] : units) {
      if (rest.starts_with(unit)) {
        total += n * ms;
        i += std::string(unit).size();
        found = true;
        break;
      }
    }
    if (!found) return -1;
  }
  return total;
}

class StateFileLab : public WorldDaemonLab {
 protected:
  std::string state_path() const { return dir_ + "/state.json"; }
  std::string metrics_path() const { return dir_ + "/tswatchdog.prom"; }

  // Waits for `n` more periodic checks that found the control connection
  // live (the daemon's debug log says so at each).
  bool WaitChecks(int n) {
    for (int i = 0; i < n; ++i) {
      if (!daemon_->WaitForLine("connection (periodic): live control",
                                seconds(5))) {
        ADD_FAILURE() << "no periodic check found the control connection "
                         "live within 5 s";
        return false;
      }
    }
    return true;
  }

  // `tswatchdog status`'s lines, and its exit status.
  std::vector<std::string> Status(int* exit_status) {
    Child status({TSWATCHDOG_BINARY, "status", "--state-file", state_path()},
                 /*merge_stderr=*/true);
    std::vector<std::string> lines;
    for (std::string line; status.ReadLine(&line, seconds(5));) {
      lines.push_back(line);
    }
    *exit_status = status.Wait(seconds(5));
    return lines;
  }
};

// The line of `lines` that starts with `prefix`, "" if none.
std::string LineStarting(const std::vector<std::string>& lines,
                         const std::string& prefix) {
  for (const std::string& line : lines) {
    if (line.starts_with(prefix)) return line;
  }
  return "";
}

// "state:      healthy for 3s (since ...)" -> 3000.
int64_t AgeIn(const std::string& line, const std::string& before,
              const std::string& after) {
  const size_t start = line.find(before);
  if (start == std::string::npos) return -1;
  const size_t from = start + before.size();
  const size_t end = line.find(after, from);
  if (end == std::string::npos) return -1;
  return AgoMs(line.substr(from, end - from));
}

TEST_F(StateFileLab, NothingChangingWritesNothingAndStatusAgesStillMove) {
  SetUpScenario("a");
  ASSERT_FALSE(HasFailure());
  StartDaemon(
      "metrics_file = \"" + metrics_path() + "\"\nmetrics_interval = \"1h\"\n",
      {"--debug", "--log-style", "plain"}, /*capture_log=*/true);
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        const json st = State();
        if (st.value("state", "") != "healthy") return false;
        int live = 0;
        for (const json& c : st["connections"]["list"]) {
          live += c["verdict"] == "live";
        }
        return live >= 2;  // control and DERP
      },
      seconds(20)))
      << State().dump();

  // A window of five checks without a write. A write in between must carry
  // a real change (a verdict, a new connection): then the next window.
  bool quiet = false;
  for (int window = 0; window < 5 && !quiet && !HasFailure(); ++window) {
    const json before = State();
    const FileStamp state_stamp = Stamp(state_path());
    const FileStamp metrics_stamp = Stamp(metrics_path());
    ASSERT_TRUE(WaitChecks(5));
    const json after = State();
    quiet = Stamp(state_path()) == state_stamp &&
            Stamp(metrics_path()) == metrics_stamp;
    if (!quiet) {
      EXPECT_TRUE(Masked(before) != Masked(after))
          << "rewritten with nothing changed but ages; now: " << after.dump(2);
    }
  }
  EXPECT_TRUE(quiet) << "no window of five checks without a write";

  // The ages `status` shows are computed when it runs: they move while the
  // file does not, and agree with the clock.
  int exit_status = -1;
  const int64_t since_ms = State()["since_unix_ms"].get<int64_t>();
  const int64_t before_ms = NowMs();
  const std::vector<std::string> first = Status(&exit_status);
  const int64_t after_ms = NowMs();
  EXPECT_EQ(exit_status, 0);
  // status prints whole seconds, cut down, of its own now - since.
  const int64_t state_age =
      AgeIn(LineStarting(first, "state:"), "healthy for ", " (since");
  EXPECT_GT(state_age, before_ms - since_ms - 1000) << first[0];
  EXPECT_LE(state_age, after_ms - since_ms) << first[0];
  const int64_t checked_age = AgeIn(
      LineStarting(first, "connections: as checked"), "as checked ", " ago");
  EXPECT_GE(checked_age, 0) << LineStarting(first, "connections:");
  std::vector<std::string> second;
  EXPECT_TRUE(fake::WaitUntil(
      [&] {
        second = Status(&exit_status);
        return AgeIn(LineStarting(second, "state:"), "healthy for ",
                     " (since") > state_age &&
               AgeIn(LineStarting(second, "connections: as checked"),
                     "as checked ", " ago") > checked_age;
      },
      seconds(5)))
      << LineStarting(second, "state:") << "\n"
      << LineStarting(second, "connections:");
  EXPECT_NE(LineStarting(second, "connections: as checked")
                .find("the same at every check since"),
            std::string::npos);
}

}  // namespace
}  // namespace lab
