// The real `tswatchdog run` in the world (world.h), against the fake
// tailscaled on real sockets, for the scenarios the daemon heals without
// mwan3 (mwan3_daemon_lab_test.cc has (c) and (d)). The fixture is in
// world_daemon_lab.h. A scenario the daemon cannot heal yet is a row of
// benchmark 5, not a test here.
#include "tests/lab/world_daemon_lab.h"

namespace lab {
namespace {

// (a) and (e): tailscaled notices the change itself and redials; the daemon
// may kick (rebind) but takes no disruptive step.
void ExpectSelfHealed(const WorldDaemonLab& lab, int64_t t0,
                      const std::string& events, const std::string& dir,
                      const fake::FakeTailscaledProcess& fake) {
  std::optional<int64_t> healed;
  EXPECT_TRUE(fake::WaitUntil(
      [&] {
        healed =
            bench::HealedAt(bench::ReadEvents(events), t0,
                            NowMs() - static_cast<int64_t>(10000 * kScale));
        return healed.has_value();
      },
      seconds(20)));
  const bench::Steps steps =
      bench::CountSteps(fake.Requests(), dir + "/restarts", t0);
  EXPECT_EQ(steps.start + steps.reup + steps.restart, 0)
      << "start " << steps.start << ", reup " << steps.reup << ", restart "
      << steps.restart;
  (void)lab;
}

TEST_F(WorldDaemonLab, FailoverTailscaledNoticesNeedsNoDisruptiveStep) {
  const int64_t t0 = StartAndFail("a");
  ExpectSelfHealed(*this, t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, RenumberedWanNeedsNoDisruptiveStep) {
  const int64_t t0 = StartAndFail("e");
  ExpectSelfHealed(*this, t0, events(), dir_, *fake_);
}

}  // namespace
}  // namespace lab
