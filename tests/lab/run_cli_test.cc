// `tswatchdog run` and `status` on the command line: config errors, flags,
// --print-config. These fail before any socket is opened, so they need no
// namespace.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/lab/lab.h"

namespace {

using std::chrono::seconds;

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tswatchdog-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

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

TEST_F(RunCli, StatusWithoutAStateFileExitsTwo) {
  std::string out;
  EXPECT_EQ(Run({"status", "--config", WriteConfig(""), "--state-file",
                 dir_ + "/missing.json"},
                &out),
            2);
  EXPECT_NE(out.find("missing.json"), std::string::npos) << out;
}

}  // namespace
