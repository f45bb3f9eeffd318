// The daemon's wiring: what it takes from the config.
#include "watchdog/daemon/daemon.h"

#include <gtest/gtest.h>

namespace watchdog {
namespace {

using namespace std::chrono_literals;

TEST(MachineConfigTest, FromConfigCopiesEveryTimingAndTheLadder) {
  config::Config config;
  config.debounce = 1s;
  config.settle_max = 2s;
  config.grace = 3s;
  config.verify = 4s;
  config.unhealthy_after = 5s;
  config.backoff_initial = 6s;
  config.backoff_max = 7s;
  config.kick_on_change = false;
  config.ladder = {LadderStep::kStart, LadderStep::kConntrack};
  config.max_disruptive_per_hour = 9;
  const MachineConfig machine = MachineConfigFromConfig(config);
  EXPECT_EQ(machine.debounce, 1s);
  EXPECT_EQ(machine.settle_max, 2s);
  EXPECT_EQ(machine.grace, 3s);
  EXPECT_EQ(machine.verify, 4s);
  EXPECT_EQ(machine.unhealthy_after, 5s);
  EXPECT_EQ(machine.backoff_initial, 6s);
  EXPECT_EQ(machine.backoff_max, 7s);
  EXPECT_FALSE(machine.kick_on_change);
  EXPECT_EQ(machine.ladder, config.ladder);
  EXPECT_EQ(machine.max_disruptive_per_hour, 9);
}

}  // namespace
}  // namespace watchdog
