// The real `tswatchdog run` in the world (world.h), against the fake
// tailscaled on real sockets, for the scenarios the daemon heals without
// mwan3 (mwan3_daemon_lab_test.cc has (c) and (d)). The fixture is in
// world_daemon_lab.h. A scenario the daemon cannot heal yet is a row of
// benchmark 5, not a test here.
#include "tests/lab/world_daemon_lab.h"

#include <csignal>
#include <iostream>

namespace lab {
namespace {

// (a) and (e): tailscaled notices the change itself and redials; the daemon
// may kick (rebind) but takes no disruptive step.
void ExpectSelfHealed(const WorldDaemonLab& lab, int64_t t0,
                      const std::string& events, const std::string& dir,
                      const fake::FakeTailscaledProcess& fake) {
  EXPECT_TRUE(WaitHealed(events, t0, seconds(20)).has_value());
  const bench::Steps steps =
      bench::CountSteps(fake.Requests(), dir + "/restarts", t0);
  EXPECT_EQ(steps.start + steps.reup + steps.restart, 0)
      << "start " << steps.start << ", reup " << steps.reup << ", restart "
      << steps.restart;
  (void)lab;
}

// (b), (b-vrrp), (f): tailscaled alone keeps its dead control connection for
// minutes (README, benchmark 5); the daemon sees it dead from the kernel's
// side and heals with `start`, nothing else disruptive. The deadline is 10 s
// of wall time (200 s of tailscaled's at kScale): tailscaled alone does not
// heal within it, and `start` is the daemon's.
void ExpectHealedByStart(int64_t t0, const std::string& events,
                         const std::string& dir,
                         const fake::FakeTailscaledProcess& fake) {
  const std::optional<int64_t> healed = WaitHealed(events, t0, seconds(10));
  EXPECT_TRUE(healed.has_value()) << "not healed";
  if (healed) {
    std::cout << "healed " << (*healed - t0) << " ms after the failure ("
              << (*healed - t0) / kScale / 1000 << " s at real scale)\n";
  }
  const bench::Steps steps =
      bench::CountSteps(fake.Requests(), dir + "/restarts", t0);
  EXPECT_EQ(steps.start, 1);
  EXPECT_EQ(steps.reup + steps.restart, 0)
      << "reup " << steps.reup << ", restart " << steps.restart;
}

TEST_F(WorldDaemonLab, NextHopFailoverIsHealedByStart) {
  const int64_t t0 = StartAndFail("b");
  ExpectHealedByStart(t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, VrrpTakeoverIsHealedByStart) {
  const int64_t t0 = StartAndFail("b-vrrp");
  ExpectHealedByStart(t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, NatRenumberedUpstreamIsHealedByStart) {
  const int64_t t0 = StartAndFail("f");
  ExpectHealedByStart(t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, FailoverTailscaledNoticesNeedsNoDisruptiveStep) {
  const int64_t t0 = StartAndFail("a");
  ExpectSelfHealed(*this, t0, events(), dir_, *fake_);
}

TEST_F(WorldDaemonLab, RenumberedWanNeedsNoDisruptiveStep) {
  const int64_t t0 = StartAndFail("e");
  ExpectSelfHealed(*this, t0, events(), dir_, *fake_);
}

// A tailscaled that stops answering while nothing changes (SIGSTOP): no bus
// line comes, no uplink event. The periodic check sees the process stopped
// and asks for a status, which times out: unreachable within probe_interval
// + the LocalAPI call timeout (10 s, not scaled): 25 s at real scale.
TEST_F(WorldDaemonLab, AStoppedTailscaledIsNoticedWithinProbeIntervalAndACall) {
  StartHealthy("a");
  ASSERT_EQ(TailscaleVerdict(), "healthy");
  ASSERT_EQ(::kill(fake_->pid(), SIGSTOP), 0);
  const int64_t t0 = NowMs();
  const milliseconds bound =
      milliseconds(static_cast<int64_t>(15000 * kScale)) + seconds(10);
  const bool noticed = fake::WaitUntil(
      [&] { return TailscaleVerdict() == "unreachable"; }, bound + seconds(3));
  const int64_t took = NowMs() - t0;
  ::kill(fake_->pid(), SIGCONT);
  EXPECT_TRUE(noticed) << "still " << TailscaleVerdict();
  std::cout << "noticed " << took << " ms after SIGSTOP (bound "
            << bound.count() << " ms)\n";
}

}  // namespace
}  // namespace lab
