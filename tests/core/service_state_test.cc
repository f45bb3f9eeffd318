#include "watchdog/core/service_state.h"

#include <gtest/gtest.h>

namespace watchdog {
namespace {

// What systemd 252 printed in the systemd lab (tests/systemd) for the lab's
// tailscaled.service, one line per case.
TEST(ServiceState, JudgesWhatSystemdSaysOfTheUnit) {
  struct Case {
    const char* what;
    const char* show;
    ServiceCondition want;
  };
  const Case cases[] = {
      {"running",
       "Result=success\nLoadState=loaded\nActiveState=active\n"
       "SubState=running\nJob=\n",
       ServiceCondition::kUp},
      {"after systemctl stop",
       "Job=\nResult=success\nActiveState=inactive\nSubState=dead\n"
       "LoadState=loaded\n",
       ServiceCondition::kStoppedOnPurpose},
      {"inside a restart: stopped, its start job queued",
       "LoadState=loaded\nActiveState=inactive\nSubState=dead\nJob=245\n"
       "Result=success\n",
       ServiceCondition::kUp},
      {"stopping", "LoadState=loaded\nActiveState=deactivating\nJob=193\n",
       ServiceCondition::kUp},
      {"crashed, systemd restarts it",
       "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\n"
       "Result=signal\nJob=\n",
       ServiceCondition::kUp},
      {"crashed, no Restart=",
       "LoadState=loaded\nActiveState=failed\nSubState=failed\n"
       "Result=signal\nJob=\n",
       ServiceCondition::kFailed},
      {"failed, then stopped",
       "LoadState=loaded\nActiveState=inactive\nSubState=dead\n"
       "Result=exit-code\nJob=\n",
       ServiceCondition::kFailed},
      {"no such unit", "LoadState=not-found\nActiveState=inactive\n",
       ServiceCondition::kUnknown},
      {"masked", "LoadState=masked\nActiveState=inactive\nResult=success\n",
       ServiceCondition::kUnknown},
      {"nothing read", "", ServiceCondition::kUnknown},
      {"garbage", "no equals sign here\n=\n", ServiceCondition::kUnknown},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(JudgeService(ParseSystemctlShow(c.show)), c.want) << c.what;
  }
}

TEST(ServiceState, ParsesEachPropertyAndIgnoresTheRest) {
  const ServiceState s = ParseSystemctlShow(
      "Id=tailscaled.service\nLoadState=loaded\nActiveState=active\n"
      "SubState=running\nResult=success\nJob=12\nNoNewline=x");
  EXPECT_EQ(s.load_state, "loaded");
  EXPECT_EQ(s.active_state, "active");
  EXPECT_EQ(s.sub_state, "running");
  EXPECT_EQ(s.result, "success");
  EXPECT_EQ(s.job, "12");
}

TEST(ServiceState, SocketsAreStartedAndTheRestRestarted) {
  using Strings = std::vector<std::string>;
  EXPECT_EQ(SystemctlCommandForUnit("ssh.socket"),
            (Strings{"systemctl", "start", "--", "ssh.socket"}));
  EXPECT_EQ(SystemctlCommandForUnit("nginx.service"),
            (Strings{"systemctl", "restart", "--", "nginx.service"}));
  EXPECT_EQ(SystemctlCommandForUnit("nginx"),
            (Strings{"systemctl", "restart", "--", "nginx"}));
  EXPECT_FALSE(IsSocketUnit(".socket"));
  EXPECT_FALSE(IsSocketUnit("socket"));
  EXPECT_TRUE(IsSocketUnit("a.socket"));
}

TEST(ServiceState, UnitOfRestartCommand) {
  EXPECT_EQ(SystemdUnitOfRestartCommand(
                {"systemctl", "restart", "tailscaled.service"}),
            "tailscaled.service");
  EXPECT_EQ(SystemdUnitOfRestartCommand(
                {"/usr/bin/systemctl", "restart", "tailscaled"}),
            "tailscaled");
  EXPECT_EQ(SystemdUnitOfRestartCommand({"/etc/init.d/tailscale", "restart"}),
            std::nullopt);
  EXPECT_EQ(SystemdUnitOfRestartCommand(
                {"systemctl", "restart", "a.service", "b.service"}),
            std::nullopt);
  EXPECT_EQ(SystemdUnitOfRestartCommand({"systemctl", "restart", "--no-block"}),
            std::nullopt);
  EXPECT_EQ(SystemdUnitOfRestartCommand({"mysystemctl", "restart", "x"}),
            std::nullopt);
  EXPECT_EQ(SystemdUnitOfRestartCommand({}), std::nullopt);
}

}  // namespace
}  // namespace watchdog
