#include "watchdog/io/process_runner.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <optional>

namespace watchdog {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Runs the loop until the callback delivered a result (bounded by a deadline
// on the loop's own clock, so a hang fails instead of blocking the suite).
ProcessResult RunToEnd(const std::vector<std::string>& argv,
                       milliseconds timeout,
                       std::map<std::string, std::string> env = {}) {
  EventLoop loop;
  ProcessRunner runner(loop);
  std::optional<ProcessResult> result;
  runner.Run(argv, timeout, env, [&](const ProcessResult& r) { result = r; });
  const MonoTime deadline = MonoClock::now() + seconds(20);
  while (!result && MonoClock::now() < deadline) loop.RunOnce(100);
  EXPECT_TRUE(result) << "no result";
  EXPECT_EQ(runner.running(), 0u);
  return result.value_or(ProcessResult{});
}

TEST(ProcessRunner, ExitStatusAndOutput) {
  ProcessResult r = RunToEnd(
      {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, seconds(10));
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.output, "out\nerr\n");
  EXPECT_EQ(r.Describe().rfind("exited 3 after", 0), 0u) << r.Describe();
}

TEST(ProcessRunner, ArgvIsNotAShell) {
  // A metacharacter is just an argument: nothing is expanded or chained.
  ProcessResult r = RunToEnd({"echo", "a;", "false", "$HOME"}, seconds(10));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.output, "a; false $HOME\n");
}

TEST(ProcessRunner, TimeoutKillsTheChild) {
  ProcessResult r = RunToEnd({"sleep", "30"}, milliseconds(200));
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_LT(r.runtime, seconds(10));
}

TEST(ProcessRunner, MissingProgramIsASpawnError) {
  ProcessResult r = RunToEnd({"/nonexistent/tswatchdog-test"}, seconds(10));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.spawn_error.find("No such file"), std::string::npos)
      << r.spawn_error;
}

TEST(ProcessRunner, EnvironmentHasExtrasAndNoNotifySocket) {
  setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ProcessResult r = RunToEnd(
      {"/bin/sh", "-c", "echo \"${TSWATCHDOG_EVENT}|${NOTIFY_SOCKET:-unset}\""},
      seconds(10), {{"TSWATCHDOG_EVENT", "recovered"}});
  unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(r.output, "recovered|unset\n");
}

TEST(ProcessRunner, ChildStartsWithSignalsUnblocked) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, &old);  // as the daemon does for signalfd
  ProcessResult r =
      RunToEnd({"/bin/sh", "-c", "kill -TERM $$; sleep 5"}, seconds(10));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST(ProcessRunner, TerminateAllReapsEverything) {
  EventLoop loop;
  ProcessRunner runner(loop);
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    runner.Run({"sleep", "30"}, seconds(60), {}, [&](const ProcessResult& r) {
      EXPECT_EQ(r.signal, SIGTERM);
      ++done;
    });
  }
  EXPECT_EQ(runner.running(), 3u);
  runner.TerminateAll(seconds(5));
  EXPECT_EQ(runner.running(), 0u);
  EXPECT_EQ(done, 3);
}

}  // namespace
}  // namespace watchdog
