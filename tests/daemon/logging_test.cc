#include "watchdog/daemon/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  // $JOURNAL_STREAM as systemd would set it for this stderr.
  std::string JournalStream() const {
    struct stat st {};
    EXPECT_EQ(fstat(fd_, &st), 0);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }

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

// Text from outside (tailscaled's error bodies, children's output, interface
// names) reaches log lines: a newline in it forged a "<0>critical:" line of
// its own in the journal. Every style writes one line per message, in valid
// UTF-8, with control characters escaped.
TEST(Logging, ForeignTextCannotForgeALineInAnyStyle) {
  const std::string hostile =
      "tailscaled: HTTP 500: boom\n<0>critical: forged\r\x1b[2J\xff";
  for (LogStyle style :
       {LogStyle::kJournal, LogStyle::kPlain, LogStyle::kTerminal}) {
    StderrCapture capture;
    SetupLogging(style, spdlog::level::info);
    spdlog::warn("{}", hostile);
    const std::string text = capture.Text();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1)
        << LogStyleName(style) << ": " << text;
    EXPECT_NE(text.find("boom\\n<0>critical: forged\\r\\x1b[2J\xEF\xBF\xBD"),
              std::string::npos)
        << LogStyleName(style) << ": " << text;
  }
}

TEST(Logging, DetectsTheJournalOnlyWhenStderrIsIt) {
  StderrCapture capture;
  setenv("JOURNAL_STREAM", capture.JournalStream().c_str(), 1);
  EXPECT_EQ(DetectLogStyle(), LogStyle::kJournal);
  // A wrapper that redirected stderr elsewhere: not the journal any more.
  setenv("JOURNAL_STREAM", "1:2", 1);
  EXPECT_EQ(DetectLogStyle(), LogStyle::kPlain);
  unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(DetectLogStyle(), LogStyle::kPlain);  // a file, not a tty
}

// Issue 14, defect 4: a bad config at start went to the journal at info, so
// `journalctl -p err` did not say why the unit failed.
TEST(Logging, AStartupErrorIsAnErrorInTheJournal) {
  StderrCapture capture;
  setenv("JOURNAL_STREAM", capture.JournalStream().c_str(), 1);
  PrintStartupError("tswatchdog: /etc/t.toml:1: key 'grace': bad");
  unsetenv("JOURNAL_STREAM");
  PrintStartupError("tswatchdog: elsewhere, plain");
  EXPECT_EQ(capture.Text(),
            "<3>tswatchdog: /etc/t.toml:1: key 'grace': bad\n"
            "tswatchdog: elsewhere, plain\n");
}

}  // namespace
}  // namespace watchdog
