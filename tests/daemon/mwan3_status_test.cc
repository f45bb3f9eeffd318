// mwan3's files on disk: reading them (missing, unreadable, oversized) and
// the inotify watcher on a directory that appears late and vanishes.
#include "watchdog/daemon/mwan3_status.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace watchdog {
namespace {

namespace fs = std::filesystem;

class Mwan3FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "mwan3_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
    paths_ = Mwan3Paths::Under(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << content;
  }

  // Waits (poll, with a deadline) for the watcher to have something.
  bool Readable(const Mwan3StatusWatcher& w, int timeout_ms = 2000) {
    pollfd p{w.fd(), POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1;
  }

  std::string root_;
  Mwan3Paths paths_;
};

TEST_F(Mwan3FilesTest, ReadsConfigOrderAndBothStatusFiles) {
  Write(paths_.config, "config interface 'wan'\nconfig interface 'wanb'\n");
  Write(paths_.iface_state_dir + "/wan", "offline\n");
  Write(paths_.iface_state_dir + "/wanb", "online\n");
  Write(paths_.track_dir + "/wan/STATUS", "offline\n");
  Write(paths_.track_dir + "/wan/SCORE", "0\n");
  Write(paths_.track_dir + "/wanb/STATUS", "online\n");
  watchdog::Mwan3Files files = ReadMwan3Files(paths_);
  EXPECT_TRUE(files.problems.empty());
  EXPECT_EQ(files.interface_order, (std::vector<std::string>{"wan", "wanb"}));
  ASSERT_EQ(files.status.size(), 2u);
  EXPECT_EQ(files.status["wan"].iface_state, "offline\n");
  EXPECT_EQ(files.status["wan"].track_status, "offline\n");
  EXPECT_EQ(files.status["wanb"].track_status, "online\n");
}

TEST_F(Mwan3FilesTest, NothingThereIsNoProblem) {
  watchdog::Mwan3Files files = ReadMwan3Files(paths_);
  EXPECT_TRUE(files.problems.empty());
  EXPECT_TRUE(files.interface_order.empty());
  EXPECT_TRUE(files.status.empty());
}

TEST_F(Mwan3FilesTest, UnreadableAndOversizedFilesAreUnknownAndNamed) {
  Write(paths_.iface_state_dir + "/wan", std::string(1000, 'x'));
  // A directory where a file should be: read() fails with EISDIR.
  fs::create_directories(paths_.iface_state_dir + "/wanb");
  fs::create_directories(paths_.config);
  watchdog::Mwan3Files files = ReadMwan3Files(paths_);
  ASSERT_EQ(files.problems.size(), 3u);
  for (const std::string& p : files.problems) {
    EXPECT_EQ(p.rfind(root_, 0), 0u) << p;  // each names its path
  }
  EXPECT_FALSE(files.status["wan"].iface_state);
  EXPECT_FALSE(files.status["wanb"].iface_state);
}

TEST_F(Mwan3FilesTest, TruncatedContentIsNamedAndEmptyIsNot) {
  Write(paths_.iface_state_dir + "/wan", "onl");
  Write(paths_.iface_state_dir + "/wanb", "");  // between truncate and write
  watchdog::Mwan3Files files = ReadMwan3Files(paths_);
  EXPECT_EQ(files.problems,
            (std::vector<std::string>{paths_.iface_state_dir +
                                      "/wan: not a state: 'onl'"}));
  EXPECT_EQ(files.status["wan"].iface_state, "onl");
  EXPECT_EQ(files.status["wanb"].iface_state, "");
}

TEST_F(Mwan3FilesTest, WatcherFollowsADirectoryThatAppearsLateAndVanishes) {
  Mwan3StatusWatcher watcher(paths_.iface_state_dir);
  EXPECT_EQ(watcher.watching(), root_);  // /var/run does not exist yet
  EXPECT_FALSE(Readable(watcher, 0));

  // Something unrelated appears where it waits: woken, nothing changed.
  fs::create_directories(root_ + "/etc");
  ASSERT_TRUE(Readable(watcher));
  EXPECT_FALSE(watcher.HandleReadable());
  EXPECT_EQ(watcher.watching(), root_);

  // mwan3 starts: the whole path appears (mkdir -p), then a state file.
  fs::create_directories(paths_.iface_state_dir);
  ASSERT_TRUE(Readable(watcher));
  bool changed = watcher.HandleReadable();
  // mkdir -p may outrun the watcher one level at a time.
  while (watcher.watching() != paths_.iface_state_dir && Readable(watcher)) {
    changed = watcher.HandleReadable();
  }
  EXPECT_EQ(watcher.watching(), paths_.iface_state_dir);
  EXPECT_TRUE(changed);
  Write(paths_.iface_state_dir + "/wan", "online\n");
  ASSERT_TRUE(Readable(watcher));
  EXPECT_TRUE(watcher.HandleReadable());
  EXPECT_FALSE(Readable(watcher, 0));

  // The hotplug script rewrites it: `echo offline > wan`.
  Write(paths_.iface_state_dir + "/wan", "offline\n");
  ASSERT_TRUE(Readable(watcher));
  EXPECT_TRUE(watcher.HandleReadable());

  // mwan3 stopped: the directory goes; it waits in the parent again.
  fs::remove_all(root_ + "/var/run/mwan3");
  ASSERT_TRUE(Readable(watcher));
  EXPECT_TRUE(watcher.HandleReadable());
  EXPECT_EQ(watcher.watching(), root_ + "/var/run");
  // And comes back.
  fs::create_directories(paths_.iface_state_dir);
  while (watcher.watching() != paths_.iface_state_dir && Readable(watcher)) {
    watcher.HandleReadable();
  }
  EXPECT_EQ(watcher.watching(), paths_.iface_state_dir);
}

}  // namespace
}  // namespace watchdog
