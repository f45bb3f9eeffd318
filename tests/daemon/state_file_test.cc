#include "watchdog/daemon/state_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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
  ASSERT_EQ(WriteFileAtomically(path, R"({"state":"healthy"})"), std::nullopt);
  ASSERT_EQ(WriteFileAtomically(path, R"({"state":"recovering"})"),
            std::nullopt);
  std::string error;
  auto state = ReadStateFile(path, &error);
  ASSERT_TRUE(state) << error;
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
    auto error = WriteFileAtomically(blocker + "/state.json", "{}");
    ASSERT_TRUE(error);
    EXPECT_NE(error->find(blocker), std::string::npos) << *error;
    return;
  }
  const std::string path = dir_ + "/state.json";
  ASSERT_EQ(WriteFileAtomically(path, R"({"state":"healthy"})"), std::nullopt);
  chmod(dir_.c_str(), 0555);
  auto error = WriteFileAtomically(path, R"({"state":"cooldown"})");
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("Permission denied"), std::string::npos) << *error;
  std::string read_error;
  EXPECT_EQ((*ReadStateFile(path, &read_error))["state"], "healthy");
}

TEST_F(StateFileTest, GarbageAndMissingFilesAreErrors) {
  std::string error;
  EXPECT_FALSE(ReadStateFile(dir_ + "/missing.json", &error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  std::ofstream(dir_ + "/bad.json") << "{not json";
  EXPECT_FALSE(ReadStateFile(dir_ + "/bad.json", &error));
  EXPECT_NE(error.find("invalid JSON"), std::string::npos) << error;
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
