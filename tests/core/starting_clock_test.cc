// The clock start_timeout runs on, shared by `run` and `check`.
#include <gtest/gtest.h>

#include "watchdog/core/health.h"

namespace watchdog {
namespace {

using namespace std::chrono_literals;

HealthInputs Running(MonoTime now, std::vector<std::string> health = {}) {
  HealthInputs in;
  Status status;
  status.backend_state = BackendState::kRunning;
  status.backend_state_name = "Running";
  status.self_online = true;
  status.self_relay = "fra";
  status.health = std::move(health);
  in.status = status;
  in.now = now;
  in.start_timeout = 60s;
  return in;
}

HealthInputs Starting(MonoTime now) {
  HealthInputs in = Running(now);
  in.status->backend_state = BackendState::kStarting;
  in.status->backend_state_name = "Starting";
  return in;
}

const MonoTime kT0 = MonoTime{} + 1000h;

TEST(StartingClockTest, StartingTimesOutAfterStartTimeout) {
  StartingClock clock;
  EXPECT_EQ(clock.Classify(Starting(kT0)).kind, HealthKind::kStarting);
  EXPECT_EQ(clock.since(), kT0);
  EXPECT_EQ(clock.Classify(Starting(kT0 + 59s)).kind, HealthKind::kStarting);
  const HealthVerdict late = clock.Classify(Starting(kT0 + 60s));
  EXPECT_EQ(late.kind, HealthKind::kDegraded);
  EXPECT_TRUE(late.HasReason("stuck-starting")) << late.Describe();
  // Stuck stays stuck: the clock keeps running.
  EXPECT_TRUE(clock.Classify(Starting(kT0 + 90s)).HasReason("stuck-starting"));
  EXPECT_EQ(clock.since(), kT0);
}

// Running, but tailscaled says it is still warming up: the same clock.
TEST(StartingClockTest, WarmingUpTimesOutToo) {
  StartingClock clock;
  const std::vector<std::string> warming = {
      "Tailscale is starting. Please wait."};
  EXPECT_EQ(clock.Classify(Running(kT0, warming)).kind, HealthKind::kStarting);
  const HealthVerdict late = clock.Classify(Running(kT0 + 61s, warming));
  EXPECT_EQ(late.kind, HealthKind::kDegraded) << late.Describe();
  EXPECT_TRUE(late.HasReason("stuck-starting")) << late.Describe();
}

TEST(StartingClockTest, AnyOtherVerdictStopsTheClock) {
  StartingClock clock;
  clock.Classify(Starting(kT0));
  EXPECT_TRUE(clock.Classify(Running(kT0 + 50s)).healthy());
  EXPECT_FALSE(clock.since().has_value());
  // A new start gets the whole start_timeout again.
  EXPECT_EQ(clock.Classify(Starting(kT0 + 100s)).kind, HealthKind::kStarting);
  EXPECT_EQ(clock.Classify(Starting(kT0 + 159s)).kind, HealthKind::kStarting);
}

}  // namespace
}  // namespace watchdog
