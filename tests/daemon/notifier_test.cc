#include "watchdog/daemon/notifier.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace watchdog {
namespace {

// A receiving end, as systemd has it.
class NotifyReceiver {
 public:
  explicit NotifyReceiver(const std::string& name) : name_(name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + name.size();
    if (name[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      unlink(name.c_str());
      len += 1;
    }
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0)
        << std::strerror(errno);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifyReceiver() {
    close(fd_);
    if (name_[0] == '/') unlink(name_.c_str());
  }
  std::string Receive() {
    char buf[512];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string name_;
  int fd_;
};

class NotifierTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
  }
};

TEST_F(NotifierTest, DisabledWithoutNotifySocket) {
  unsetenv("NOTIFY_SOCKET");
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment();
  EXPECT_FALSE(notifier.enabled());
  EXPECT_TRUE(notifier.Notify("READY=1").ok());
  EXPECT_FALSE(notifier.watchdog_interval());
}

TEST_F(NotifierTest, PathSocketGetsOneDatagram) {
  const std::string path = "/tmp/tswatchdog-notify-" + std::to_string(getpid());
  NotifyReceiver receiver(path);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment();
  ASSERT_TRUE(notifier.enabled());
  EXPECT_TRUE(notifier.Notify("READY=1\nSTATUS=healthy").ok());
  EXPECT_EQ(receiver.Receive(), "READY=1\nSTATUS=healthy");
}

TEST_F(NotifierTest, AbstractSocketAndWatchdogInterval) {
  const std::string name = "@tswatchdog-notify-" + std::to_string(getpid());
  NotifyReceiver receiver(name);
  setenv("NOTIFY_SOCKET", name.c_str(), 1);
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment();
  ASSERT_EQ(notifier.watchdog_interval(), std::chrono::milliseconds(15000));
  EXPECT_TRUE(notifier.Notify("WATCHDOG=1").ok());
  EXPECT_EQ(receiver.Receive(), "WATCHDOG=1");
}

TEST_F(NotifierTest, WatchdogMeantForAnotherProcessIsIgnored) {
  setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  EXPECT_FALSE(SystemdNotifier::FromEnvironment().watchdog_interval());
}

TEST_F(NotifierTest, AReceiverThatDoesNotReadNeverBlocksUs) {
  const std::string path =
      "/tmp/tswatchdog-notify-full-" + std::to_string(getpid());
  NotifyReceiver receiver(path);  // never reads
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment();
  Expected<void, SystemError> sent;
  // The queue of a datagram socket holds a bounded number of messages; past
  // it a blocking send would wait for ever.
  for (int i = 0; i < 10000 && sent; ++i) sent = notifier.Notify("WATCHDOG=1");
  ASSERT_FALSE(sent) << "the receiver's queue never filled";
  const std::string error = sent.error().ToString();
  EXPECT_EQ(sent.error().errno_value, EAGAIN);
  EXPECT_NE(error.find("Resource temporarily unavailable"), std::string::npos)
      << error;
}

TEST_F(NotifierTest, MissingSocketIsAnErrorValue) {
  setenv("NOTIFY_SOCKET", "/tmp/tswatchdog-no-such-notify-socket", 1);
  auto sent = SystemdNotifier::FromEnvironment().Notify("READY=1");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().errno_value, ENOENT);
  const std::string error = sent.error().ToString();
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

}  // namespace
}  // namespace watchdog
