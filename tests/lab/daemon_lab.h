// The fixture of the end-to-end daemon lab tests (daemon_lab_test.cc,
// daemon_network_lab_test.cc): the real `tswatchdog run` with short timings,
// a fake tailscaled, and waits on the daemon's state file. Waits are for
// conditions with deadlines.
#ifndef TSWATCHDOG_TESTS_LAB_DAEMON_LAB_H_
#define TSWATCHDOG_TESTS_LAB_DAEMON_LAB_H_

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_tailscaled_process.h"
#include "tests/lab/lab.h"
#include "tests/lab/state_wait.h"
#include "watchdog/daemon/state_file.h"

namespace daemon_lab {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// wan0 preferred, wan1 the fallback: deleting wan0's route is a failover.
constexpr const char* kWan0ThenWan1 =
    "ip route add default via 198.51.100.1 dev wan0 metric 100\n"
    "ip route add default via 203.0.113.1 dev wan1 metric 200";

// Short timings so that each scenario takes seconds.
constexpr milliseconds kDebounce{300};
constexpr milliseconds kGrace{1000};
constexpr milliseconds kVerify{1000};

inline std::vector<std::string> Writes(const std::vector<json>& requests,
                                       int64_t since_unix_ms = 0) {
  std::vector<std::string> writes;
  for (const json& r : requests) {
    if (r["method"] == "GET" || r["unix_ms"].get<int64_t>() < since_unix_ms) {
      continue;
    }
    std::string entry =
        r["method"].get<std::string>() + " " + r["target"].get<std::string>();
    if (r["method"] == "PATCH") entry += " " + r["body"].get<std::string>();
    writes.push_back(entry);
  }
  return writes;
}

inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline size_t CountLines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

// The daemon, its config and state file, and a fake tailscaled; the
// topology is the subclass's (SetUp calls this SetUp first).
class DaemonLabBase : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    char tmpl[] = "/tmp/tswatchdog-lab-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (daemon_) {
      // A clean exit, checked: under the sanitizers LeakSanitizer runs at
      // exit and fails it (1 under ASan, 23 alone) on a leak, which a
      // SIGKILL would hide.
      EXPECT_EQ(daemon_->Stop(seconds(10)), 0)
          << "tswatchdog run did not exit cleanly (1: LeakSanitizer found "
             "leaks, see its report above; 2: bad config; -1: still running)";
    }
    daemon_.reset();
    fake_.reset();
    if (!mounted_.empty()) umount2(mounted_.c_str(), MNT_DETACH);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  virtual void StartFake(std::vector<std::string> args = {}) {
    fake_ = std::make_unique<fake::FakeTailscaledProcess>(std::move(args));
  }

  // Starts `tswatchdog run` with the short timings and `extra` TOML lines.
  // restart_command defaults to: note the run, then restart the fake.
  // With `capture_log`, the daemon's log is readable through daemon_.
  void StartDaemon(const std::string& extra_toml = "",
                   std::vector<std::string> extra_flags = {},
                   bool capture_log = false) {
    std::ofstream config(config_path());
    config << "socket = \"" << fake_->socket_path() << "\"\n"
           << "state_file = \"" << state_path() << "\"\n";
    // The short timings, unless `extra_toml` sets them itself.
    const std::pair<const char*, std::string> timings[] = {
        {"debounce", std::to_string(kDebounce.count()) + "ms"},
        {"settle_max", "2s"},
        {"grace", std::to_string(kGrace.count()) + "ms"},
        {"verify", std::to_string(kVerify.count()) + "ms"},
        {"unhealthy_after", "2s"},
        {"start_timeout", "5s"},
        {"backoff_initial", "200ms"},
        {"backoff_max", "2s"}};
    for (const auto& [key, value] : timings) {
      if (("\n" + extra_toml).find("\n" + std::string(key) + " =") ==
          std::string::npos) {
        config << key << " = \"" << value << "\"\n";
      }
    }
    if (extra_toml.find("restart_command") == std::string::npos) {
      config << "restart_command = [\"/bin/sh\", \"-c\", \"echo restart >> "
             << restarts_path() << "; kill -HUP " << fake_->pid() << "\"]\n";
    }
    config << extra_toml;
    config.close();
    std::vector<std::string> argv = {TSWATCHDOG_BINARY, "run", "--config",
                                     config_path()};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    daemon_ = std::make_unique<lab::Child>(argv, capture_log);
  }

  // A healthy fake, the daemon, and the daemon settled on "healthy".
  void StartHealthy(const std::string& extra_toml = "",
                    std::vector<std::string> extra_flags = {},
                    bool capture_log = false) {
    StartFake();
    StartDaemon(extra_toml, std::move(extra_flags), capture_log);
    ASSERT_TRUE(WaitStateIs("healthy"));
  }

  std::string config_path() const { return dir_ + "/tswatchdog.toml"; }
  std::string state_path() const {
    return (state_dir_.empty() ? dir_ : state_dir_) + "/state.json";
  }
  std::string restarts_path() const { return dir_ + "/restarts"; }

  json State() const { return lab::StateFileOrEmpty(state_path()); }

  // Waits until the state file satisfies `condition`; fails with the last
  // state when the deadline passes.
  bool WaitState(const std::function<bool(const json&)>& condition,
                 milliseconds timeout, json* last = nullptr) const {
    return lab::WaitState(state_path(), condition, timeout, last);
  }
  bool WaitStateIs(const std::string& name,
                   milliseconds timeout = seconds(15)) {
    return WaitState([&](const json& s) { return s["state"] == name; },
                     timeout);
  }

  std::string dir_;
  std::string state_dir_;  // empty: dir_
  std::string mounted_;    // a mount of this test's own, undone in TearDown
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
  std::unique_ptr<lab::Child> daemon_;
};

}  // namespace daemon_lab

#endif  // TSWATCHDOG_TESTS_LAB_DAEMON_LAB_H_
