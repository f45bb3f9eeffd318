// `tswatchdog run` and `status` on the command line: config errors, flags,
// --print-config. These fail before any socket is opened, so they need no
// namespace. The syslog and OpenWrt-path tests change what /dev and /var look
// like, in a mount namespace private to the test process.
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/lab/lab.h"

namespace {

using std::chrono::seconds;

// Unshares a mount namespace for this test process (ctest runs each test in a
// process of its own); mounts made afterwards are seen by no one else.
std::string EnterPrivateMounts() {
  if (unshare(CLONE_NEWNS) != 0) {
    return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("mount --make-rprivate /: ") + std::strerror(errno);
  }
  return "";
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tswatchdog-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (overlay_on_dev_) {
      umount2("/dev", MNT_DETACH);
      umount2((dir_ + "/ovl").c_str(), MNT_DETACH);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string WriteConfig(const std::string& text) {
    const std::string path = dir_ + "/tswatchdog.toml";
    std::ofstream(path) << text;
    return path;
  }
  // Runs tswatchdog with `args`; returns its exit status and all it printed.
  int Run(const std::vector<std::string>& args, std::string* output) {
    std::vector<std::string> argv = {TSWATCHDOG_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    lab::Child child(argv, /*merge_stderr=*/true);
    std::string line;
    while (child.ReadLine(&line, seconds(10))) *output += line + "\n";
    return child.Wait(seconds(10));
  }
  std::string dir_;
  bool overlay_on_dev_ = false;
};

TEST_F(RunCli, BadConfigNamesFileLineAndKeyAndExitsTwo) {
  const std::string path =
      WriteConfig("debounce = \"2s\"\n\nladder = [\"rebind\", \"reboot\"]\n");
  std::string out;
  EXPECT_EQ(Run({"run", "--config", path}, &out), 2);
  EXPECT_NE(out.find(path + ":3: key 'ladder': unknown step 'reboot'"),
            std::string::npos)
      << out;
}

TEST_F(RunCli, UnknownKeyAndNegativeDurationAndEmptyRestartCommand) {
  for (const auto& [text, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"debounse = \"2s\"\n", ":1: key 'debounse'"},
           {"grace = \"-1s\"\n", ":1: key 'grace'"},
           {"restart_command = []\n", ":1: key 'restart_command'"},
           {"verify = 15\n", ":1: key 'verify'"},
       }) {
    std::string out;
    EXPECT_EQ(Run({"run", "--config", WriteConfig(text)}, &out), 2) << text;
    EXPECT_NE(out.find(expected), std::string::npos) << text << " -> " << out;
  }
}

// A state_file naming a directory was moved aside whole and JSON put in its
// place (issue 13, defect 9); a metrics_file on someone else's file would
// have been replaced. Both are refused before the daemon starts.
TEST_F(RunCli, OutputFilesThatAreNotOursAreRefusedAtStart) {
  std::filesystem::create_directory(dir_ + "/state.d");
  std::ofstream(dir_ + "/notes.txt") << "an operator's notes\n";
  const std::string config = WriteConfig("");
  for (const auto& [args, expected] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--state-file", dir_ + "/state.d"}, "key 'state_file'"},
           {{"--state-file", dir_ + "/state.json", "--metrics-file",
             dir_ + "/notes.txt"},
            "key 'metrics_file'"},
       }) {
    std::vector<std::string> argv = {"run", "--config", config};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(Run(argv, &out), 2) << out;
    EXPECT_NE(out.find(expected), std::string::npos) << out;
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/state.d"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/state.d.stale"));
}

TEST_F(RunCli, MissingExplicitConfigIsAnError) {
  std::string out;
  EXPECT_EQ(Run({"run", "--config", dir_ + "/nope.toml"}, &out), 2);
  EXPECT_NE(out.find("nope.toml"), std::string::npos) << out;
}

TEST_F(RunCli, BadFlagsExitTwo) {
  std::string out;
  EXPECT_EQ(Run({"run", "--no-such-option"}, &out), 2) << out;
  out.clear();
  EXPECT_EQ(
      Run({"run", "--config", WriteConfig(""), "--debounce", "fast"}, &out), 2);
  EXPECT_NE(out.find("--debounce"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(
      Run({"run", "--config", WriteConfig(""), "--dry-run", "false"}, &out), 2);
  EXPECT_NE(out.find("unexpected argument 'false'"), std::string::npos) << out;
}

TEST_F(RunCli, PrintConfigShowsFileAndFlagsMerged) {
  const std::string path = WriteConfig("grace = \"45s\"\ndebounce = \"3s\"\n");
  std::string out;
  EXPECT_EQ(Run({"run", "--config", path, "--debounce", "7s", "--print-config"},
                &out),
            0);
  EXPECT_NE(out.find("grace = \"45s\""), std::string::npos) << out;
  EXPECT_NE(out.find("debounce = \"7s\""), std::string::npos)
      << out;  // CLI wins
  EXPECT_NE(
      out.find("ladder = [ \"rebind\", \"start\", \"reup\", \"restart\" ]"),
      std::string::npos)
      << out;
  // The printed config is itself a valid config that prints the same.
  std::string again;
  EXPECT_EQ(
      Run({"run", "--config", WriteConfig(out), "--print-config"}, &again), 0);
  EXPECT_EQ(again, out);
}

// What the systemd unit's ExecReload= runs before it sends SIGHUP.
TEST_F(RunCli, CheckConfigIsSilentOnAGoodConfigAndNamesTheErrorOfABadOne) {
  std::string out;
  EXPECT_EQ(Run({"run", "--config", WriteConfig("grace = \"45s\"\n"),
                 "--check-config"},
                &out),
            0);
  EXPECT_EQ(out, "");
  const std::string path = WriteConfig("debounce = \"2s\"\ngrace = 5\n");
  EXPECT_EQ(Run({"run", "--config", path, "--check-config"}, &out), 2);
  EXPECT_NE(out.find(path + ":2: key 'grace'"), std::string::npos) << out;
}

TEST_F(RunCli, StatusWithoutAStateFileExitsTwo) {
  std::string out;
  EXPECT_EQ(Run({"status", "--config", WriteConfig(""), "--state-file",
                 dir_ + "/missing.json"},
                &out),
            2);
  EXPECT_NE(out.find("missing.json"), std::string::npos) << out;
}

TEST_F(RunCli, SyslogStyleSendsEachLineWithItsOwnPriority) {
  if (std::string problem = EnterPrivateMounts(); !problem.empty()) {
    GTEST_SKIP() << problem;
  }
  // syslog(3) writes to /dev/log, which this machine may lack: lay a
  // writable overlay over /dev (its device nodes stay) and bind there.
  LAB_RUN("mkdir -p " + dir_ + "/ovl && mount -t tmpfs tmpfs " + dir_ +
          "/ovl && mkdir " + dir_ + "/ovl/upper " + dir_ +
          "/ovl/work && mount -t overlay overlay -o lowerdir=/dev,upperdir=" +
          dir_ + "/ovl/upper,workdir=" + dir_ + "/ovl/work /dev && rm -f " +
          "/dev/log");
  overlay_on_dev_ = true;
  int log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(log_fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, "/dev/log");
  ASSERT_EQ(
      bind(log_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
      << std::strerror(errno);

  std::vector<std::string> argv = {
      TSWATCHDOG_BINARY, "run",    "--config", WriteConfig(""),
      "--log-style",     "syslog", "--socket", dir_ + "/no-tailscaled.sock",
      "--state-file",    ""};
  lab::Child daemon(argv, /*merge_stderr=*/true);
  // The daemon starts with info lines and warns that tailscaled is missing.
  std::string info, warning;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while ((info.empty() || warning.empty()) &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{log_fd, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    char buffer[2048];
    ssize_t n = recv(log_fd, buffer, sizeof(buffer), 0);
    if (n <= 0) continue;
    std::string datagram(buffer, static_cast<size_t>(n));
    // "<PRI>Nov 22 05:10:54 tswatchdog[PID]: message"; PRI = facility
    // daemon (3) * 8 + severity.
    EXPECT_NE(
        datagram.find(" tswatchdog[" + std::to_string(daemon.pid()) + "]: "),
        std::string::npos)
        << datagram;
    if (datagram.rfind("<30>", 0) == 0 && info.empty()) info = datagram;
    if (datagram.rfind("<28>", 0) == 0 && warning.empty()) warning = datagram;
  }
  close(log_fd);
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(seconds(10)), 0);
  EXPECT_FALSE(info.empty()) << "no daemon.info line on /dev/log";
  EXPECT_FALSE(warning.empty()) << "no daemon.warning line on /dev/log";
  // Nothing went to stderr: under procd it would be logged as daemon.err.
  std::string line;
  EXPECT_FALSE(daemon.ReadLine(&line, std::chrono::milliseconds(0))) << line;
}

TEST_F(RunCli, StatusFindsTheStateFileWhereOpenWrtPutsIt) {
  if (std::string problem = EnterPrivateMounts(); !problem.empty()) {
    GTEST_SKIP() << problem;
  }
  // OpenWrt: no /run, the init script passes /var/run/tswatchdog/state.json.
  // Empty tmpfs over both, so only the OpenWrt path holds a file.
  LAB_RUN(
      "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var && "
      "mkdir -p /var/run/tswatchdog && printf '%s' "
      "'{\"state\":\"healthy\",\"pid\":1}' > "
      "/var/run/tswatchdog/state.json");
  std::string out;
  // Found; pid 1 is not a tswatchdog, so the view is not current: exit 1.
  EXPECT_EQ(Run({"status", "--config", WriteConfig(""), "--json"}, &out), 1)
      << out;
  EXPECT_NE(out.find("\"state\": \"healthy\""), std::string::npos) << out;
  // A state file named on purpose is not second-guessed.
  out.clear();
  EXPECT_EQ(Run({"status", "--config", WriteConfig(""), "--state-file",
                 "/run/elsewhere.json"},
                &out),
            2);
}

// `status` exited 0 when the daemon was gone, or when the state file could
// not be set aside on a read-only directory (issue 13, defect 12): a view
// that is not current exits 1 and says why.
TEST_F(RunCli, StatusExitsOneWhenTheDaemonIsGone) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // its pid is free now
  const std::string state = dir_ + "/state.json";
  std::ofstream(state) << "{\"state\":\"healthy\",\"pid\":" << child << "}";
  std::string out;
  EXPECT_EQ(
      Run({"status", "--config", WriteConfig(""), "--state-file", state}, &out),
      1)
      << out;
  EXPECT_NE(out.find("is not running"), std::string::npos) << out;
}

TEST_F(RunCli, StatusExitsOneWhenTheDaemonCannotReplaceTheFile) {
  if (std::string problem = EnterPrivateMounts(); !problem.empty()) {
    GTEST_SKIP() << problem;
  }
  // A stand-in daemon: a process named tswatchdog (sleep, under that name).
  const std::string fake_daemon = dir_ + "/tswatchdog";
  ASSERT_EQ(symlink("/bin/sleep", fake_daemon.c_str()), 0);
  lab::Child daemon({fake_daemon, "60"});
  const std::string state_dir = dir_ + "/state";
  std::filesystem::create_directory(state_dir);
  LAB_RUN("mount -t tmpfs -o size=64k,mode=0755 tmpfs " + state_dir);
  const std::string state = state_dir + "/state.json";
  std::ofstream(state) << "{\"state\":\"healthy\",\"pid\":" << daemon.pid()
                       << "}";
  std::string out;
  EXPECT_EQ(
      Run({"status", "--config", WriteConfig(""), "--state-file", state}, &out),
      0)
      << "a running daemon, a writable directory: current\n"
      << out;
  LAB_RUN("mount -o remount,ro " + state_dir);
  out.clear();
  EXPECT_EQ(
      Run({"status", "--config", WriteConfig(""), "--state-file", state}, &out),
      1)
      << out;
  EXPECT_NE(out.find("is read-only"), std::string::npos) << out;
  umount2(state_dir.c_str(), MNT_DETACH);
}

// The durations in the connections' words are as of connections.checked
// (README, "State file": the file is not rewritten when only they move):
// `status` says so, from a daemon that runs, one that is gone, a file from a
// daemon before `checked`, and a file with odd values.
TEST_F(RunCli, StatusSaysWhenTheConnectionsWereChecked) {
  const std::string fake_daemon = dir_ + "/tswatchdog";
  ASSERT_EQ(symlink("/bin/sleep", fake_daemon.c_str()), 0);
  lab::Child daemon({fake_daemon, "60"});
  const int64_t an_hour_ago =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count() -
      3610000;
  const std::string list =
      "\"list\":[{\"kind\":\"control\",\"verdict\":\"live\",\"evidence\":"
      "\"control 198.51.100.2:41234 -> 192.0.2.100:80: last data 12 s "
      "ago\"}]";
  const std::string state = dir_ + "/state.json";
  auto write = [&](const std::string& pid, const std::string& checked) {
    std::ofstream(state) << "{\"state\":\"healthy\",\"pid\":" << pid
                         << ",\"connections\":{\"known\":true," << checked
                         << list << "}}";
  };
  const std::string checked =
      "\"checked\":\"2026-11-22T05:21:42.480Z\","
      "\"checked_unix_ms\":" +
      std::to_string(an_hour_ago) + ",";
  std::string out;
  write(std::to_string(daemon.pid()), checked);
  EXPECT_EQ(
      Run({"status", "--config", WriteConfig(""), "--state-file", state}, &out),
      0)
      << out;
  EXPECT_NE(out.find("connections: as checked 1h ago "
                     "(2026-11-22T05:21:42.480Z), the same at every check "
                     "since\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("connection: control live: control 198.51.100.2:41234"),
            std::string::npos)
      << out;
  // The daemon is gone: nothing is said of the checks since.
  out.clear();
  write("0", checked);
  EXPECT_EQ(
      Run({"status", "--config", WriteConfig(""), "--state-file", state}, &out),
      1);
  EXPECT_NE(out.find("connections: as checked 1h ago "
                     "(2026-11-22T05:21:42.480Z)\n"),
            std::string::npos)
      << out;
  // A daemon before `checked`, and odd values: the connections as they are.
  for (const std::string& old :
       {std::string(), std::string("\"checked_unix_ms\":\"soon\","),
        std::string("\"checked_unix_ms\":null,")}) {
    out.clear();
    write(std::to_string(daemon.pid()), old);
    EXPECT_EQ(
        Run({"status", "--config", WriteConfig(""), "--state-file", state},
            &out),
        0)
        << old << "\n"
        << out;
    EXPECT_EQ(out.find("as checked"), std::string::npos) << out;
    EXPECT_NE(out.find("connection: control live"), std::string::npos) << out;
  }
}

}  // namespace
