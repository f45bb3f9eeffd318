#include "watchdog/io/process_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <sstream>
#include <string>

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

// Children got the daemon's whole environment. They get a documented few
// (PATH, LANG, LC_ALL, TZ) and what the caller adds.
TEST(ProcessRunner, EnvironmentIsCleanAndDocumented) {
  setenv("TSWATCHDOG_TEST_SECRET", "hunter2", 1);
  setenv("LD_PRELOAD", "", 1);
  setenv("JOURNAL_STREAM", "8:12345", 1);
  setenv("TZ", "UTC", 1);
  ProcessResult r =
      RunToEnd({"/usr/bin/env"}, seconds(10), {{"TSWATCHDOG_EVENT", "action"}});
  unsetenv("TSWATCHDOG_TEST_SECRET");
  unsetenv("LD_PRELOAD");
  unsetenv("JOURNAL_STREAM");
  unsetenv("TZ");
  ASSERT_TRUE(r.ok()) << r.Describe();
  std::set<std::string> names;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    names.insert(line.substr(0, line.find('=')));
  }
  for (const std::string& name : names) {
    EXPECT_TRUE(name == "PATH" || name == "LANG" || name == "LC_ALL" ||
                name == "TZ" || name == "TSWATCHDOG_EVENT")
        << name << " leaked into the child";
  }
  EXPECT_TRUE(names.count("PATH"));
  EXPECT_NE(r.output.find("TZ=UTC\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TSWATCHDOG_EVENT=action\n"), std::string::npos);
}

// The child's stdout was the non-blocking end of a pipe: writing more than
// the pipe holds (64 KiB) at once failed with EAGAIN (`seq 1 300000` exited
// 1 in 1 ms). The child's end blocks; the daemon's end does not.
TEST(ProcessRunner, AChildMayWriteMoreThanThePipeHolds) {
  ProcessResult r =
      RunToEnd({"/bin/sh", "-c",
                "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo end"},
               seconds(20));
  EXPECT_TRUE(r.ok()) << r.Describe() << ": " << r.output.substr(0, 200);
  EXPECT_TRUE(r.output.ends_with("xxx\nend\n")) << r.output.substr(0, 200);
  const ProcessResult seq = RunToEnd({"seq", "1", "300000"}, seconds(20));
  EXPECT_TRUE(seq.ok()) << seq.Describe() << ": " << seq.output.substr(0, 200);
  EXPECT_TRUE(seq.output.ends_with("\n299999\n300000\n"));
}

// Descriptors of the daemon that are not close-on-exec (libcurl's sockets
// were not) never reach a child; see also the LocalAPI test with a live bus.
TEST(ProcessRunner, NoDescriptorBeyondStderrIsInherited) {
  const int leaky = fcntl(STDIN_FILENO, F_DUPFD, 57);  // no FD_CLOEXEC
  ASSERT_GE(leaky, 57);
  ProcessResult r = RunToEnd({"/bin/sh", "-c", "ls /proc/$$/fd"}, seconds(10));
  close(leaky);
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.output, "0\n1\n2\n");
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
