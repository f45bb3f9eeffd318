#include "watchdog/daemon/state_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "watchdog/daemon/metrics.h"

namespace watchdog {
namespace {

namespace fs = std::filesystem;

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tswatchdog-state-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    chmod(dir_.c_str(), 0755);
    fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(StateFileTest, WritesAtomicallyAndReadsBack) {
  const std::string path = dir_ + "/sub/state.json";  // parent created
  ASSERT_TRUE(WriteFileAtomically(path, R"({"state":"healthy"})").ok());
  ASSERT_TRUE(WriteFileAtomically(path, R"({"state":"recovering"})").ok());
  auto state = ReadStateFile(path);
  ASSERT_TRUE(state) << state.error().ToString();
  EXPECT_EQ((*state)["state"], "recovering");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ + "/sub")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(StateFileTest, ReadOnlyDirectoryIsAnErrorValueAndKeepsTheOldFile) {
  if (geteuid() == 0) {
    // root ignores directory permissions; use a path under a regular file.
    const std::string blocker = dir_ + "/file";
    std::ofstream(blocker) << "x";
    auto written = WriteFileAtomically(blocker + "/state.json", "{}");
    ASSERT_FALSE(written);
    const std::string error = written.error().ToString();
    EXPECT_NE(error.find(blocker), std::string::npos) << error;
    return;
  }
  const std::string path = dir_ + "/state.json";
  ASSERT_TRUE(WriteFileAtomically(path, R"({"state":"healthy"})").ok());
  chmod(dir_.c_str(), 0555);
  auto written = WriteFileAtomically(path, R"({"state":"cooldown"})");
  ASSERT_FALSE(written);
  const std::string error = written.error().ToString();
  EXPECT_NE(error.find("Permission denied"), std::string::npos) << error;
  EXPECT_EQ((*ReadStateFile(path))["state"], "healthy");
}

TEST_F(StateFileTest, GarbageAndMissingFilesAreErrors) {
  auto missing = ReadStateFile(dir_ + "/missing.json");
  ASSERT_FALSE(missing);
  std::string error = missing.error().ToString();
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  std::ofstream(dir_ + "/bad.json") << "{not json";
  auto bad = ReadStateFile(dir_ + "/bad.json");
  ASSERT_FALSE(bad);
  error = bad.error().ToString();
  EXPECT_NE(error.find("invalid JSON"), std::string::npos) << error;
}

// --- Hostile directories (issue 13, defects 4 and 9) ------------------------

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string TempName(const std::string& path) {
  return path + ".tmp." + std::to_string(getpid());
}

// The temp file was opened O_CREAT|O_TRUNC, following symlinks: whoever
// could write the directory made the daemon overwrite any root-owned file.
TEST_F(StateFileTest, ASymlinkAtTheTempNameIsNeverFollowed) {
  const std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious";
  const std::string path = dir_ + "/state.json";
  ASSERT_EQ(symlink(victim.c_str(), TempName(path).c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(path, R"({"state":"healthy"})").ok());
  EXPECT_EQ(ReadAll(victim), "precious");
  EXPECT_EQ(ReadAll(path), R"({"state":"healthy"})");
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

// A FIFO at the temp name blocked the daemon in open() for ever (SIGTERM
// ignored). Run in a child with an alarm, so a block fails the test.
TEST_F(StateFileTest, AFifoAtTheTempNameNeverBlocks) {
  const std::string path = dir_ + "/state.json";
  EXPECT_EXIT(
      {
        alarm(5);
        if (mkfifo(TempName(path).c_str(), 0644) != 0) std::exit(2);
        auto written = WriteFileAtomically(path, R"({"state":"healthy"})");
        std::exit(written && ReadAll(path) == R"({"state":"healthy"})" ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(StateFileTest, ADirectoryOthersCanWriteIsRefused) {
  const std::string path = dir_ + "/state.json";
  for (mode_t mode : {01777, 0777, 0775, 0757}) {
    ASSERT_EQ(chmod(dir_.c_str(), mode), 0);
    auto written = WriteFileAtomically(path, "{}");
    ASSERT_FALSE(written) << std::oct << mode;
    const std::string error = written.error().ToString();
    EXPECT_NE(error.find("writable by other users"), std::string::npos)
        << error;
    EXPECT_FALSE(CheckOutputPath(path, &LooksLikeStateFile).ok());
  }
  EXPECT_FALSE(fs::exists(path));
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  if (geteuid() != 0) return;  // chown needs root
  ASSERT_EQ(chown(dir_.c_str(), 65534, 65534), 0);
  auto written = WriteFileAtomically(path, "{}");
  ASSERT_FALSE(written);
  const std::string error = written.error().ToString();
  EXPECT_NE(error.find("owned by uid 65534"), std::string::npos) << error;
}

// A state_file naming a directory was moved aside whole (to .stale) and JSON
// put in its place. Such paths are refused when the config is loaded, and
// at run time only a regular file of ours is ever set aside.
TEST_F(StateFileTest, OnlyAFileOfOursMayBeReplacedOrSetAside) {
  const std::string dir = dir_ + "/a-directory";
  const std::string link = dir_ + "/a-symlink";
  const std::string fifo = dir_ + "/a-fifo";
  const std::string foreign = dir_ + "/not-ours.json";
  fs::create_directory(dir);
  ASSERT_EQ(symlink("/etc/passwd", link.c_str()), 0);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  std::ofstream(foreign) << "root:x:0:0::/root:/bin/sh\n";
  EXPECT_FALSE(CheckOutputPath(foreign, &LooksLikeStateFile).ok());
  for (const std::string& path : {dir, link, fifo}) {
    EXPECT_FALSE(CheckOutputPath(path, &LooksLikeStateFile).ok()) << path;
    EXPECT_FALSE(SetAsideStale(path).ok()) << path;
    EXPECT_FALSE(fs::exists(fs::symlink_status(StaleCopyPath(path)))) << path;
  }
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(fs::is_symlink(link));

  // What may be replaced: nothing yet, an empty file, our own state file.
  const std::string ours = dir_ + "/state.json";
  EXPECT_TRUE(CheckOutputPath(ours, &LooksLikeStateFile).ok());
  EXPECT_TRUE(
      CheckOutputPath(dir_ + "/new/state.json", &LooksLikeStateFile).ok());
  std::ofstream(ours).flush();
  EXPECT_TRUE(CheckOutputPath(ours, &LooksLikeStateFile).ok());
  ASSERT_TRUE(WriteFileAtomically(
                  ours, "{\n  \"pid\": 7,\n  \"state\": \"healthy\"\n}\n")
                  .ok());
  EXPECT_TRUE(CheckOutputPath(ours, &LooksLikeStateFile).ok());
  auto moved = SetAsideStale(ours);
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(*moved);
  EXPECT_TRUE(fs::is_regular_file(StaleCopyPath(ours)));
  moved = SetAsideStale(ours);
  ASSERT_TRUE(moved.ok());
  EXPECT_FALSE(*moved);  // nothing left to move

  if (geteuid() != 0) return;  // chown needs root
  const std::string theirs = dir_ + "/theirs.json";
  std::ofstream(theirs) << "{\"pid\": 1, \"state\": \"healthy\"}";
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  auto checked = CheckOutputPath(theirs, &LooksLikeStateFile);
  ASSERT_FALSE(checked);
  const std::string problem = checked.error().ToString();
  EXPECT_NE(problem.find("uid 65534"), std::string::npos) << problem;
}

TEST(OutputFormatTest, TheDaemonsOwnFilesAreRecognized) {
  EXPECT_TRUE(LooksLikeStateFile("{\"pid\":1,\"state\":\"healthy\"}"));
  EXPECT_FALSE(LooksLikeStateFile("[1, 2]"));
  EXPECT_TRUE(LooksLikeMetricsFile(
      RenderMetrics(Snapshot{}, ClockPair::Now(), std::chrono::seconds(60))));
  EXPECT_FALSE(LooksLikeMetricsFile("node_load1 0.5\n"));
}

TEST(FormatAgo, Table) {
  using namespace std::chrono;
  EXPECT_EQ(FormatAgo(milliseconds(850)), "850ms");
  EXPECT_EQ(FormatAgo(seconds(5)), "5s");
  EXPECT_EQ(FormatAgo(seconds(192)), "3m12s");
  EXPECT_EQ(FormatAgo(minutes(125)), "2h5m");
  EXPECT_EQ(FormatAgo(hours(50)), "2d2h");
  EXPECT_EQ(FormatAgo(milliseconds(-3)), "0ms");
}

}  // namespace
}  // namespace watchdog
