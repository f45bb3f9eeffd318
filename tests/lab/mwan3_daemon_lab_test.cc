// The real `tswatchdog run` on an mwan3 router (world.h with the mwan3
// stand-in, tests/mwan3), against the fake tailscaled on real sockets:
// scenario (c) (mode A) healed by steering, with nothing disruptive; a crash
// leaves the steering route, the next start removes it; a second instance
// leaves nothing behind; a route of someone else's with the same shape is
// never touched. Time scale kScale (world_daemon_lab.h).
#include <csignal>
#include <cstdio>

#include "tests/lab/lab.h"
#include "tests/lab/world_daemon_lab.h"

namespace lab {
namespace {

// What the kernel and the processes add to a scaled duration: the route
// change, netmon's wake-up, the redial and the first map response take
// milliseconds, but they are not scaled and the machine may be busy.
constexpr int64_t kSlackMs = 1500;

// Our routes: protocol 122, every table, both families.
std::string OurRoutes() {
  return ShOutput(
      "ip -4 route show table all proto 122; "
      "ip -6 route show table all proto 122");
}

const char kSteered[] = "default via 203.0.113.1 dev wan1 metric 9 \n";

class Mwan3DaemonLab : public WorldDaemonLab {
 protected:
  // Waits for mwan3's `action` on wan at or after `after`.
  int64_t WaitMwan3(const std::string& action, int64_t after) {
    std::optional<int64_t> at;
    EXPECT_TRUE(fake::WaitUntil(
        [&] { return (at = Mwan3Event(action, "wan", after)).has_value(); },
        seconds(30)))
        << "mwan3 never said " << action;
    return at.value_or(after);
  }
  bool WaitRoutes(const std::string& want) {
    return fake::WaitUntil([&] { return OurRoutes() == want; }, seconds(10));
  }
  // tailscaled healed after `t0` (Online, a control connection dialed since
  // and alive 10 s scaled later) within `deadline`; its time, or -1.
  int64_t WaitHealed(int64_t t0, seconds deadline = seconds(20)) {
    return lab::WaitHealed(events(), t0, deadline).value_or(-1);
  }
  // No reup, no restart (the goal); `start`s are counted and returned. In
  // mode A the diagnosis may see tailscaled's control connection dead (its
  // keep-alive probes unanswered) before mwan3 declares the WAN offline and
  // run `start`, which cannot help while rule 1310 keeps tailscaled on the
  // dead main default (docs/mwan3.md), but takes nothing else down.
  int ExpectNoReupOrRestartSince(int64_t t0) {
    const bench::Steps steps =
        bench::CountSteps(fake_->Requests(), dir_ + "/restarts", t0);
    EXPECT_EQ(steps.reup + steps.restart, 0)
        << "reup " << steps.reup << ", restart " << steps.restart;
    return steps.start;
  }
};

// (c): tailscaled's rule 1310 keeps it on the main table's default via the
// dead wan0; mwan3's `disconnected` makes the daemon add a lower-metric
// default via wan1, tailscaled's netmon moves to it and redials. Goal (real
// scale): Online within 10 s of `disconnected`. When wan is back, our route
// goes and tailscaled follows the main default back to wan0.
TEST_F(Mwan3DaemonLab, ModeASteersTailscaledToTheLiveWanAndBack) {
  const int64_t t0 = StartAndFail("c");
  const int64_t disconnected = WaitMwan3("disconnected", t0);
  const int64_t healed = WaitHealed(t0);
  ASSERT_GT(healed, 0) << "tailscaled never healed";
  std::printf(
      "(c) at time scale %.2f: healed %lld ms after mwan3's "
      "disconnected (goal: %lld ms scaled, + %lld ms slack)\n",
      kScale, static_cast<long long>(healed - disconnected),
      static_cast<long long>(10000 * kScale), static_cast<long long>(kSlackMs));
  EXPECT_LE(healed - disconnected, 10000 * kScale + kSlackMs);
  std::printf("(c) start steps: %d\n", ExpectNoReupOrRestartSince(t0));
  EXPECT_EQ(OurRoutes(), kSteered);
  const json mwan3 = State()["mwan3"];
  EXPECT_EQ(mwan3.value("tailscale_mode", ""), "A") << mwan3.dump();
  EXPECT_EQ(mwan3["steering"]["routes"],
            json::array({"default via 203.0.113.1 dev wan1 metric 9"}));
  EXPECT_EQ(mwan3["wans"][0].value("state", ""), "offline");

  world_->RestoreIspAUpstream();
  const int64_t connected = WaitMwan3("connected", disconnected);
  EXPECT_TRUE(WaitRoutes("")) << OurRoutes();
  EXPECT_GT(WaitHealed(connected), 0) << "tailscaled did not come back";
  ExpectNoReupOrRestartSince(t0);
}

// (d): tailscaled's rules at 5210 (the boot race): its new flows follow
// mwan3's policy, but those that began on wan keep wan's ct mark and stay on
// the dead WAN. mwan3's `disconnected` makes the daemon delete exactly
// those entries; the control connection cannot move (its next packet leaves
// by wan1 with another address, which the far side drops), so the mwan3
// evidence makes the diagnosis pick `start`: a fresh control connection, on
// wan1. Healed by `start`, nothing disruptive.
TEST_F(Mwan3DaemonLab, ModeBCleansUpTailscaledsFlowsAndStartHeals) {
  const int64_t t0 = StartAndFail("d");
  const int64_t disconnected = WaitMwan3("disconnected", t0);
  json last;
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        last = State()["mwan3"]["flow_cleanup"]["last"];
        return last.is_object();
      },
      seconds(10)));
  EXPECT_EQ(last.value("mark", ""), "0x100/0x3f00") << last.dump();
  EXPECT_GE(last.value("deleted", 0), 2) << last.dump();  // control, DERP
  bool control_listed = false;
  for (const json& c : last["tcp_on_dead_wan"]) {
    control_listed |= c.get<std::string>().ends_with(" -> 192.0.2.100:80");
  }
  // The control connection is listed unless the connection check saw it
  // dead first and a `start` had replaced it before the cleanup: the fresh
  // dial, still connecting then, is no moved flow (DeadAfterCleanup).
  const int64_t cleanup_at = last.value("at_unix_ms", int64_t{0});
  const std::string restarts = dir_ + "/restarts";
  const int starts_before_cleanup =
      bench::CountSteps(fake_->Requests(), restarts, t0).start -
      bench::CountSteps(fake_->Requests(), restarts, cleanup_at).start;
  EXPECT_TRUE(control_listed || starts_before_cleanup > 0) << last.dump();
  // The diagnosis acts on the mwan3 finding (control path dead) at once:
  // `start`. The deadline covers a slow path (tailscaled reporting the loss
  // itself) so that a miss is a failed assertion below, not a timeout.
  const int64_t healed = WaitHealed(t0, seconds(60));
  ASSERT_GT(healed, 0) << "tailscaled never healed";
  std::printf(
      "(d) at time scale %.2f: healed %lld ms after mwan3's "
      "disconnected (goal: %lld ms scaled, + %lld ms slack)\n",
      kScale, static_cast<long long>(healed - disconnected),
      static_cast<long long>(10000 * kScale), static_cast<long long>(kSlackMs));
  EXPECT_LE(healed - disconnected, 10000 * kScale + kSlackMs);
  const bench::Steps steps =
      bench::CountSteps(fake_->Requests(), dir_ + "/restarts", t0);
  EXPECT_EQ(steps.start, 1);
  EXPECT_EQ(steps.reup + steps.restart, 0)
      << "reup " << steps.reup << ", restart " << steps.restart;
  EXPECT_EQ(OurRoutes(), "");  // mode B: nothing to steer
}

// A SIGKILLed daemon cannot clean up: its route stays (and keeps
// tailscaled on the live WAN). The next start removes it once it is not
// wanted. A second instance that stops takes the route with it, and the
// first one puts it back.
TEST_F(Mwan3DaemonLab, ACrashLeavesTheRouteTheNextStartRemovesIt) {
  const int64_t t0 = StartAndFail("c");
  WaitMwan3("disconnected", t0);
  ASSERT_TRUE(WaitRoutes(kSteered)) << OurRoutes();

  Sh("sed 's|state.json|state2.json|' " + dir_ + "/tswatchdog.toml > " + dir_ +
     "/second.toml");
  {
    Child second({TSWATCHDOG_BINARY, "run", "--config", dir_ + "/second.toml"});
    EXPECT_TRUE(fake::WaitUntil(
        [&] { return std::filesystem::exists(dir_ + "/state2.json"); },
        seconds(10)));
    EXPECT_EQ(second.Stop(seconds(10)), 0);
  }
  // The first one saw its route go and put it back.
  EXPECT_TRUE(WaitRoutes(kSteered)) << OurRoutes();

  daemon_->Signal(SIGKILL);
  EXPECT_EQ(daemon_->Wait(seconds(10)), 128 + SIGKILL);
  daemon_.reset();
  EXPECT_EQ(OurRoutes(), kSteered);
  world_->RestoreIspAUpstream();
  WaitMwan3("connected", t0);
  EXPECT_EQ(OurRoutes(), kSteered);  // nobody else touches it

  StartDaemon();
  EXPECT_TRUE(WaitRoutes("")) << OurRoutes();
}

// What users add by hand (tailscale #13357), with another protocol: the
// same shape as ours. It is the main table's lowest default, so the daemon
// has nothing to steer, and it never removes or replaces it: not at start,
// not on mwan3's events, not at exit.
TEST_F(Mwan3DaemonLab, AnotherProtocolsRouteOfTheSameShapeIsNeverTouched) {
  const char kTheirs[] =
      "default via 203.0.113.1 dev wan1 proto static metric 9";
  SetUpScenario("c");
  ASSERT_EQ(Sh(std::string("ip route add ") + kTheirs), 0);
  const std::string before = ShOutput("ip route show table all");
  StartDaemon();
  ASSERT_TRUE(fake::WaitUntil(
      [&] { return State().value("state", "") == "healthy"; }, seconds(20)));
  const int64_t t0 = NowMs();
  world_->KillIspAUpstream();
  const int64_t disconnected = WaitMwan3("disconnected", t0);
  EXPECT_TRUE(fake::WaitUntil(
      [&] {
        return State()["mwan3"]["wans"][0].value("state", "") == "offline";
      },
      seconds(10)));
  EXPECT_EQ(OurRoutes(), "");
  EXPECT_EQ(State()["mwan3"]["steering"]["why"].value("v4", ""),
            "wanb (wan1), which the main table's default uses, is online");
  world_->RestoreIspAUpstream();
  WaitMwan3("connected", disconnected);
  EXPECT_EQ(daemon_->Stop(seconds(10)), 0);
  daemon_.reset();
  EXPECT_EQ(ShOutput("ip route show table all"), before);
}

}  // namespace
}  // namespace lab
