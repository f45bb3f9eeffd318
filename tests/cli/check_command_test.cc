// `tswatchdog check` as a process against fake_tailscaled: exit 0 healthy,
// 1 not healthy, 2 when nothing answers; and the right verdict for each
// shared fixture served by the fake.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "fake_tailscaled_process.h"
#include "netlink/unique_fd.h"
#include "tests/localapi/test_fixtures.h"

namespace watchdog {
namespace {

using fake::FakeTailscaledProcess;

// `tswatchdog check <args>` in a child process with stdout captured.
class CheckProcess {
 public:
  explicit CheckProcess(std::vector<std::string> args) {
    args.insert(args.begin(), {TSWATCHDOG_BINARY, "check"});
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    out_ = netlink::UniqueFd(fds[0]);
    netlink::UniqueFd write_end(fds[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    started_ = std::chrono::steady_clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(write_end.get(), STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~CheckProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits (at most 15 s) for the exit; returns the exit status, -1 if killed.
  int Wait() {
    const auto deadline = started_ + std::chrono::seconds(15);
    char buf[4096];
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{out_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::read(out_.get(), buf, sizeof buf);
      if (n <= 0) break;
      output_.append(buf, static_cast<size_t>(n));
    }
    // stdout closed; the exit itself may still be a moment behind.
    int status = 0;
    const bool exited = fake::WaitUntil(
        [&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; },
        std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    pid_ = -1;
    elapsed_ = std::chrono::steady_clock::now() - started_;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& output() const { return output_; }
  std::chrono::steady_clock::duration elapsed() const { return elapsed_; }

 private:
  netlink::UniqueFd out_;
  pid_t pid_ = -1;
  std::string output_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::duration elapsed_{};
};

struct CheckResult {
  int exit_code;
  std::string output;
};

CheckResult RunCheck(std::vector<std::string> args) {
  CheckProcess check(std::move(args));
  const int code = check.Wait();
  return {code, check.output()};
}

TEST(CheckCommandTest, HealthyFakeExitsZero) {
  FakeTailscaledProcess fake;
  auto r = RunCheck({"--socket", fake.socket_path()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(r.output.starts_with("healthy (Running, online, relay fra"))
      << r.output;
  // The daemon's diagnosis, once: this fake has no connections of its own.
  EXPECT_NE(r.output.find("\ndiagnosis: no fault found\n"), std::string::npos)
      << r.output;
}

TEST(CheckCommandTest, StuckFakeExitsOne) {
  FakeTailscaledProcess fake({"--stuck", "control"});
  auto r = RunCheck({"--socket", fake.socket_path()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(r.output.starts_with("degraded: offline")) << r.output;
  EXPECT_NE(r.output.find("not-in-map-poll"), std::string::npos) << r.output;
  // check only reads: it never kicks.
  EXPECT_EQ(fake.CountRequests("POST", "/localapi/v0/start"), 0u);
}

TEST(CheckCommandTest, NothingAnsweringExitsTwo) {
  auto r = RunCheck({"--socket", "/nonexistent/tailscaled.sock"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(r.output.starts_with("unreachable: GET /localapi/v0/status"))
      << r.output;
  EXPECT_NE(r.output.find("/nonexistent/tailscaled.sock"), std::string::npos);
}

TEST(CheckCommandTest, HungFakeExitsTwoWithinTheTimeout) {
  FakeTailscaledProcess fake({"--hang"});
  CheckProcess check({"--socket", fake.socket_path(), "--timeout", "1s"});
  EXPECT_EQ(check.Wait(), 2) << check.output();
  // --timeout, not the default call timeout (10 s), bounds the call; the
  // rest of the margin is an ASan build starting on a loaded CI machine (4 s
  // ran out once at load 14).
  EXPECT_LT(check.elapsed(), std::chrono::seconds(8));
  EXPECT_NE(check.output().find("no answer"), std::string::npos)
      << check.output();
}

TEST(CheckCommandTest, GarbageExitsTwo) {
  FakeTailscaledProcess fake({"--garbage"});
  auto r = RunCheck({"--socket", fake.socket_path()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("invalid JSON"), std::string::npos) << r.output;
}

TEST(CheckCommandTest, TailscaleDownIsNotHealthyButSaysWhy) {
  FakeTailscaledProcess fake({"--down"});
  auto r = RunCheck({"--socket", fake.socket_path()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(r.output.starts_with("user-intent-off: stopped")) << r.output;
  EXPECT_NE(r.output.find("not broken"), std::string::npos) << r.output;
}

TEST(CheckCommandTest, StartingThatBecomesRunningWithinStartTimeout) {
  FakeTailscaledProcess fake({"--state", "Starting"});
  CheckProcess check(
      {"--socket", fake.socket_path(), "--start-timeout", "10s"});
  // Let check see Starting at least once, then finish starting.
  ASSERT_TRUE(fake.WaitForRequest("GET", "/localapi/v0/status?peers=false"));
  fake.MustControl("state Running");
  EXPECT_EQ(check.Wait(), 0) << check.output();
  EXPECT_LT(check.elapsed(), std::chrono::seconds(8));
}

TEST(CheckCommandTest, BadDurationIsAnError) {
  auto r = RunCheck({"--socket", "/x", "--start-timeout", "soon"});
  EXPECT_EQ(r.exit_code, 2);
}

// The durations are spelt as in the config file (config::ParseDuration), and
// the message names the flag and says why.
TEST(CheckCommandTest, BadDurationSaysWhichFlagAndWhy) {
  const std::string command =
      std::string(TSWATCHDOG_BINARY) + " check --socket /x --timeout 5 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 2) << output;
  EXPECT_NE(output.find("--timeout: bad duration '5': a number needs a unit"),
            std::string::npos)
      << output;
}

struct FixtureCase {
  std::string serve_as;  // the fake's flag: --status-file/--health-file/...
  std::string fixture;   // in tests/data/localapi
  std::vector<std::string> check_args;
  int want_exit;
  std::string want_prefix;
};

TEST(CheckCommandTest, EachFixtureServedByTheFake) {
  const std::string status = "--status-file";
  // clang-format off
  const std::vector<FixtureCase> cases = {
      {status, "status-running-openwrt-1.98.json", {}, 0, "healthy (Running"},
      {status, "status-running-but-offline-1.102.json", {}, 1,
       "degraded: offline (Self.Online is false"},
      {status, "status-stuck-starting-no-derp-1.102.json", {}, 1,
       "degraded: stuck-starting"},
      {status, "status-stuck-starting-no-derp-1.102.json",
       {"--start-timeout", "1s"}, 1, "degraded: stuck-starting"},
      // The health of a bus line, as the fake's current warnings (the status
      // carries their texts, like tailscaled's).
      {"--health-file", "notify-health-control-lost-1.102.json", {}, 1,
       "degraded: derp-timed-out (Tailscale hasn't heard from the 'Frankfurt'"},
      // Bus traffic does not change a one-shot verdict.
      {"--bus-file", "watch-ipn-bus-stream-1.102.jsonl", {}, 0,
       "healthy (Running"},
      {status, "status-running-legacy-derp-1.66.json", {}, 1,
       "degraded: no-derp-connection (not connected to home DERP region 4)"},
      {status, "status-running-legacy-offline-1.58.json", {}, 1,
       "degraded: offline"},
      {status, "status-stopped-1.102.json", {}, 1,
       "user-intent-off: stopped"},
      {status, "status-needs-login-1.102.json", {}, 1,
       "user-intent-off: needs-login"},
  };
  // clang-format on
  for (const auto& c : cases) {
    SCOPED_TRACE(c.serve_as + " " + c.fixture);
    FakeTailscaledProcess fake({c.serve_as, FixturePath(c.fixture)});
    std::vector<std::string> args = {"--socket", fake.socket_path()};
    args.insert(args.end(), c.check_args.begin(), c.check_args.end());
    CheckProcess check(args);
    EXPECT_EQ(check.Wait(), c.want_exit) << check.output();
    EXPECT_TRUE(check.output().starts_with(c.want_prefix)) << check.output();
    if (!c.check_args.empty()) {
      // It waited out the start timeout, asking again meanwhile.
      EXPECT_GE(check.elapsed(), std::chrono::seconds(1));
      EXPECT_GE(fake.CountRequests("GET", "/localapi/v0/status?peers=false"),
                2u);
    }
  }
  // The stuck-starting verdict names the missing relay and the DERP text.
  FakeTailscaledProcess fake(
      {"--status-file",
       FixturePath("status-stuck-starting-no-derp-1.102.json")});
  auto r = RunCheck({"--socket", fake.socket_path()});
  EXPECT_NE(r.output.find("no-relay"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("no-derp-home"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace watchdog
