#include "watchdog/daemon/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace watchdog {
namespace {

// Points stderr at a temporary file for the test's lifetime.
class StderrCapture {
 public:
  StderrCapture() {
    char tmpl[] = "/tmp/tswatchdog-log-XXXXXX";
    fd_ = mkstemp(tmpl);
    path_ = tmpl;
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
    unlink(path_.c_str());
  }
  std::string Text() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1, saved_ = -1;
  std::string path_;
};

TEST(Logging, JournalStyleHasPriorityPrefixesAndNoTimestamps) {
  StderrCapture capture;
  SetupLogging(LogStyle::kJournal, spdlog::level::debug);
  spdlog::error("e");
  spdlog::warn("w");
  spdlog::info("state healthy -> settling: uplink changed");
  spdlog::debug("d");
  EXPECT_EQ(capture.Text(),
            "<3>e\n<4>w\n<6>state healthy -> settling: uplink changed\n<7>d\n");
}

TEST(Logging, PlainStyleForProcdAndPipes) {
  StderrCapture capture;
  SetupLogging(LogStyle::kPlain, spdlog::level::info);
  spdlog::warn("tailscaled: no answer");
  spdlog::debug("hidden below the level");
  EXPECT_EQ(capture.Text(), "warning: tailscaled: no answer\n");
}

TEST(Logging, DetectsTheJournalOnlyWhenStderrIsIt) {
  StderrCapture capture;
  struct stat st {};
  ASSERT_EQ(fstat(capture.fd(), &st), 0);
  const std::string ours =
      std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  setenv("JOURNAL_STREAM", ours.c_str(), 1);
  EXPECT_EQ(DetectLogStyle(), LogStyle::kJournal);
  // A wrapper that redirected stderr elsewhere: not the journal any more.
  setenv("JOURNAL_STREAM", "1:2", 1);
  EXPECT_EQ(DetectLogStyle(), LogStyle::kPlain);
  unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(DetectLogStyle(), LogStyle::kPlain);  // a file, not a tty
}

}  // namespace
}  // namespace watchdog
