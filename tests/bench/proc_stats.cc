#include "tests/bench/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace bench {
namespace {

// "name:   value ..." lines of a /proc status file.
std::optional<uint64_t> StatusField(const std::string& path,
                                    const std::string& name) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + ":") == 0) {
      return std::stoull(line.substr(name.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcSample> SampleProcess(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream stat(dir + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return std::nullopt;
  // Fields after the command name (which may hold spaces) start at ") ".
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // Field 3 (state) is the first after the name; utime and stime are 14, 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  ProcSample sample;
  sample.cpu_ms = static_cast<double>(utime + stime) * 1000.0 /
                  static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* tasks = opendir((dir + "/task").c_str());
  if (tasks == nullptr) return std::nullopt;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    const std::string task = dir + "/task/" + entry->d_name;
    std::ifstream schedstat(task + "/schedstat");
    uint64_t on_cpu_ns = 0;
    if (schedstat >> on_cpu_ns) {
      sample.on_cpu_ms += static_cast<double>(on_cpu_ns) / 1e6;
    }
    const std::string status = task + "/status";
    sample.voluntary +=
        StatusField(status, "voluntary_ctxt_switches").value_or(0);
    sample.involuntary +=
        StatusField(status, "nonvoluntary_ctxt_switches").value_or(0);
  }
  closedir(tasks);
  return sample;
}

std::optional<ProcMemory> ProcessMemory(pid_t pid) {
  const std::string status = "/proc/" + std::to_string(pid) + "/status";
  auto rss = StatusField(status, "VmRSS");
  auto hwm = StatusField(status, "VmHWM");
  auto anon = StatusField(status, "RssAnon");
  if (!rss || !hwm || !anon) return std::nullopt;
  return ProcMemory{*rss, *hwm, *anon};
}

bool WaitUntilIdle(pid_t pid, int quiet_ms, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto last = SampleProcess(pid);
  auto quiet_since = Clock::now();
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = SampleProcess(pid);
    if (!now || !last) return false;
    if (now->on_cpu_ms != last->on_cpu_ms) {
      quiet_since = Clock::now();
      last = now;
    } else if (Clock::now() - quiet_since >=
               std::chrono::milliseconds(quiet_ms)) {
      return true;
    }
  }
  return false;
}

}  // namespace bench
