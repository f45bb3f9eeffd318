// watchdog/hooks.h: which hooks may run (a real directory, real owners and
// modes) and the order hook runs happen in (pure).
#include "watchdog/daemon/hooks.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace watchdog {
namespace {

namespace fs = std::filesystem;

class HookListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tswatchdog-hooks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    dir_ = base_ + "/hooks.d";
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }
  void TearDown() override { fs::remove_all(base_); }

  std::string Hook(const std::string& name, mode_t mode = 0755) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\nexit 0\n";
    chmod(path.c_str(), mode);
    return path;
  }

  std::string base_, dir_;
};

// A world-writable directory owned by nobody, hooks owned by other users and
// symlinked hooks were all run as root (issue 13, defect 5).
TEST_F(HookListingTest, RunsOnlyFilesNoOtherUserCouldHavePutThere) {
  const std::string good = Hook("10-good");
  const std::string later = Hook("20-later");
  Hook("README", 0644);  // not executable: skipped
  Hook(".hidden");       // a dotfile: skipped
  const std::string group_writable = Hook("30-group", 0775);
  const std::string world_writable = Hook("40-world", 0757);
  const std::string link = dir_ + "/50-link";
  ASSERT_EQ(symlink(good.c_str(), link.c_str()), 0);
  const std::string subdir = dir_ + "/60-dir";
  ASSERT_EQ(mkdir(subdir.c_str(), 0755), 0);
  std::vector<std::string> expected_refused = {
      group_writable + ": writable by other users",
      world_writable + ": writable by other users",
      link + ": a symlink (a hook must be the file itself)",
      subdir + ": not a regular file"};
  std::string theirs;
  if (geteuid() == 0) {
    theirs = Hook("70-theirs");
    ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
    expected_refused.push_back(theirs +
                               ": owned by uid 65534, not by root or us");
  }

  HookListing listing = ListHookPrograms(dir_);
  EXPECT_EQ(listing.error, "");
  EXPECT_EQ(listing.programs, (std::vector<std::string>{good, later}));
  EXPECT_EQ(listing.refused, expected_refused);
}

TEST_F(HookListingTest, ADirectoryOthersCanWriteRunsNothing) {
  Hook("10-good");
  for (mode_t mode : {01777, 0777, 0775}) {
    ASSERT_EQ(chmod(dir_.c_str(), mode), 0);
    HookListing listing = ListHookPrograms(dir_);
    EXPECT_TRUE(listing.programs.empty()) << std::oct << mode;
    EXPECT_NE(listing.error.find("writable by other users"), std::string::npos)
        << listing.error;
  }
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  if (geteuid() != 0) return;  // chown needs root
  ASSERT_EQ(chown(dir_.c_str(), 65534, 65534), 0);
  HookListing listing = ListHookPrograms(dir_);
  EXPECT_TRUE(listing.programs.empty());
  EXPECT_NE(listing.error.find("owned by uid 65534"), std::string::npos)
      << listing.error;
}

TEST_F(HookListingTest, AMissingDirectoryIsAnError) {
  HookListing listing = ListHookPrograms(base_ + "/nope");
  EXPECT_TRUE(listing.programs.empty());
  EXPECT_NE(listing.error.find("No such file"), std::string::npos)
      << listing.error;
}

HookRun MakeRun(const std::string& event, const std::string& state = "") {
  return HookRun{event, {{"TSWATCHDOG_STATE", state}}};
}

std::vector<std::string> Drain(HookQueue& queue) {
  std::vector<std::string> order;
  while (auto run = queue.Start()) {
    order.push_back(run->event + "/" + run->env["TSWATCHDOG_STATE"]);
    queue.Finish();
  }
  return order;
}

// Flapping with slow hooks reached 121 children and 256/256 fds (issue 13,
// defect 11): one run at a time, and what waits is coalesced and bounded.
TEST(HookQueueTest, OneRunAtATimeTheRestWaits) {
  HookQueue queue(8);
  queue.Push(MakeRun("uplink-changed", "a"));
  queue.Push(MakeRun("unhealthy", "b"));
  auto first = queue.Start();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->event, "uplink-changed");
  EXPECT_TRUE(queue.running());
  EXPECT_FALSE(queue.Start()) << "a second run while one is running";
  queue.Finish();
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"unhealthy/b"}));
}

TEST(HookQueueTest, AWaitingEventIsCoalescedWithItsNewestState) {
  HookQueue queue(8);
  ASSERT_TRUE(queue.Push(MakeRun("action", "running")).coalesced == false);
  ASSERT_TRUE(queue.Start());  // "action" runs; the rest waits
  queue.Push(MakeRun("uplink-changed", "1"));
  queue.Push(MakeRun("unhealthy", "2"));
  auto again = queue.Push(MakeRun("uplink-changed", "3"));
  EXPECT_TRUE(again.coalesced);
  EXPECT_FALSE(again.dropped);
  for (int i = 0; i < 1000; ++i) queue.Push(MakeRun("uplink-changed", "4"));
  EXPECT_EQ(queue.waiting(), 2u);
  queue.Finish();
  EXPECT_EQ(Drain(queue),
            (std::vector<std::string>{"unhealthy/2", "uplink-changed/4"}));
}

TEST(HookQueueTest, TheQueueIsBoundedOldestDroppedFirst) {
  HookQueue queue(2);
  queue.Push(MakeRun("a"));
  queue.Push(MakeRun("b"));
  auto pushed = queue.Push(MakeRun("c"));
  ASSERT_TRUE(pushed.dropped);
  EXPECT_EQ(*pushed.dropped, "a");
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"b/", "c/"}));
}

}  // namespace
}  // namespace watchdog
