// The fake tailscaled's health tracker (tests/fake/health_tracker.h) against
// tailscaled's rules, with a fake clock: when each warning is set, when it
// becomes visible, what hides it, what a LocalAPI client reads. And the
// netmon stand-in's pure delta.
#include "tests/fake/health_tracker.h"

#include <gtest/gtest.h>

#include "tests/fake/netmon.h"

namespace fake {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Time = HealthTracker::Time;

bool Visible(const HealthTracker& t, const std::string& code, Time now) {
  const auto state = t.CurrentState(now);
  return state["Warnings"].is_object() && state["Warnings"].contains(code);
}

bool IsSet(const HealthTracker& t, const std::string& code) {
  const auto codes = t.SetCodes();
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// A self-check at `now` with DERP still talking (its frames keep coming).
void Check(HealthTracker& t, Time now) {
  t.inputs().derp_last_frame = now;
  t.SelfCheck(now);
}

// In the map poll, DERP connected: healthy.
HealthTracker Healthy(Time t0, double scale = 1) {
  HealthTracker t(scale);
  auto& in = t.inputs();
  in.in_map_poll = true;
  in.last_streamed_map_response = t0;
  in.derp_connected = true;
  in.derp_last_frame = t0;
  t.SetIPNState("Running", true, t0);
  return t;
}

TEST(FakeHealthTracker, HealthyIsNullWarnings) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  EXPECT_TRUE(t.CurrentState(t0)["Warnings"].is_null());
  EXPECT_TRUE(t.Strings(t0).empty());
  EXPECT_TRUE(t.LegacyStrings(t0).empty());
}

// health.go: armed once the poll has been over for > 10 s at a self-check;
// warnings.go: visible 8 minutes after that.
TEST(FakeHealthTracker, NotInMapPollIsArmedAfterTenSecondsAndShowsAfterEight) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  const Time ended = t0 + seconds(30);
  t.inputs().in_map_poll = false;
  t.inputs().last_map_poll_ended = ended;
  Check(t, ended);
  Check(t, ended + seconds(10));
  EXPECT_FALSE(IsSet(t, "not-in-map-poll")) << "armed within 10 s";
  const Time armed = ended + seconds(40);  // the next 1-minute tick
  Check(t, armed);
  EXPECT_TRUE(IsSet(t, "not-in-map-poll"));
  Check(t, armed + minutes(5));  // later checks keep BrokenSince
  EXPECT_FALSE(Visible(t, "not-in-map-poll", armed + minutes(8) - seconds(1)));
  ASSERT_TRUE(t.NextVisibility(armed + minutes(1)).has_value());
  EXPECT_EQ(*t.NextVisibility(armed + minutes(1)), armed + minutes(8));
  t.inputs().derp_last_frame = armed + minutes(8);
  EXPECT_TRUE(Visible(t, "not-in-map-poll", armed + minutes(8)));
  EXPECT_EQ(t.Strings(armed + minutes(8)).size(), 1u);
  // The poll is back: gone at once.
  t.inputs().in_map_poll = true;
  t.inputs().last_streamed_map_response = armed + minutes(9);
  Check(t, armed + minutes(9));
  EXPECT_TRUE(t.CurrentState(armed + minutes(9))["Warnings"].is_null());
}

// In the 10 s after the poll ends not-in-map-poll is not armed yet and the
// check falls through to mapresponse-timeout: a check 125-130 s after the
// last MapResponse sets it (visible at once), and nothing clears it until
// the poll is back (the not-in-map-poll branch returns first).
TEST(FakeHealthTracker, MapResponseTimeoutInTheWindowAfterTheWatchdog) {
  const Time last{};
  HealthTracker t = Healthy(last);
  const Time watchdog = last + seconds(120);
  t.inputs().in_map_poll = false;
  t.inputs().last_map_poll_ended = watchdog;
  Check(t, watchdog);
  EXPECT_FALSE(IsSet(t, "mapresponse-timeout")) << "120 s < 2m05s";
  Check(t, watchdog + seconds(6));
  EXPECT_TRUE(Visible(t, "mapresponse-timeout", watchdog + seconds(6)));
  Check(t, watchdog + minutes(1));
  EXPECT_TRUE(IsSet(t, "not-in-map-poll"));
  EXPECT_TRUE(Visible(t, "mapresponse-timeout", watchdog + minutes(5)));
  // Without a check in that window it never shows.
  HealthTracker quiet = Healthy(last);
  quiet.inputs().in_map_poll = false;
  quiet.inputs().last_map_poll_ended = watchdog;
  Check(quiet, watchdog);
  Check(quiet, watchdog + seconds(11));
  EXPECT_FALSE(IsSet(quiet, "mapresponse-timeout"));
}

// Before 1.70: the terse string, ~10 s after the poll ended, no delay.
TEST(FakeHealthTracker, LegacyNotInMapPollHasNoVisibilityDelay) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  t.inputs().in_map_poll = false;
  t.inputs().last_map_poll_ended = t0;
  EXPECT_TRUE(t.LegacyStrings(t0 + seconds(10)).empty());
  EXPECT_EQ(t.LegacyStrings(t0 + seconds(11)),
            std::vector<std::string>{"not in map poll"});
}

TEST(FakeHealthTracker, TimeScaleMultipliesTheDelays) {
  const Time t0{};
  HealthTracker t = Healthy(t0, 0.05);
  t.inputs().in_map_poll = false;
  t.inputs().last_map_poll_ended = t0;
  t.SelfCheck(t0 + milliseconds(600));  // > 10 s x 0.05
  EXPECT_TRUE(IsSet(t, "not-in-map-poll"));
  EXPECT_FALSE(Visible(t, "not-in-map-poll", t0 + milliseconds(24500)));
  EXPECT_TRUE(Visible(t, "not-in-map-poll", t0 + milliseconds(24600)));
}

// In the poll, a lost home DERP shows after 10 s; out of the poll every
// self-check clears and re-sets it, so it shows only when checks are rare.
TEST(FakeHealthTracker, NoDerpConnectionDependsOnSelfChecksOutOfThePoll) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  t.inputs().derp_connected = false;
  t.SelfCheck(t0);
  t.SelfCheck(t0 + seconds(5));
  EXPECT_FALSE(Visible(t, "no-derp-connection", t0 + seconds(9)));
  EXPECT_TRUE(Visible(t, "no-derp-connection", t0 + seconds(10)));
  const auto state = t.CurrentState(t0 + seconds(10));
  EXPECT_EQ(state["Warnings"]["no-derp-connection"]["Text"],
            "Tailscale could not connect to the 'Frankfurt' relay server. "
            "Your Internet connection might be down, or the server might be "
            "temporarily unavailable.");
  t.inputs().in_map_poll = false;
  t.inputs().last_map_poll_ended = t0 + seconds(20);
  t.SelfCheck(t0 + seconds(20));
  t.SelfCheck(t0 + seconds(28));
  EXPECT_FALSE(Visible(t, "no-derp-connection", t0 + seconds(35)));
  EXPECT_TRUE(Visible(t, "no-derp-connection", t0 + seconds(38)));
}

TEST(FakeHealthTracker, DerpTimedOutAfterTwoMinutesFiveOfSilence) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  t.inputs().last_streamed_map_response = t0 + minutes(3);
  t.SelfCheck(t0 + minutes(2) + seconds(4));
  EXPECT_FALSE(IsSet(t, "derp-timed-out"));
  t.SelfCheck(t0 + minutes(3));
  ASSERT_TRUE(Visible(t, "derp-timed-out", t0 + minutes(3)));
  EXPECT_EQ(
      t.CurrentState(
          t0 + minutes(3))["Warnings"]["derp-timed-out"]["Args"]["duration"],
      "3m0s");
}

// wantrunning-false hides not-in-map-poll (a real dependency); warming-up,
// from WantRunning=true until Running, hides nothing itself: state.go only
// lists it in every DependsOn so that clients hold the rest back.
TEST(FakeHealthTracker, WarmingUpAndWantRunningFalseHideTheRest) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  t.inputs().in_map_poll = false;
  t.inputs().last_map_poll_ended = t0;
  Check(t, t0 + seconds(15));
  t.inputs().derp_last_frame = t0 + minutes(20);
  t.SetIPNState("Stopped", false, t0 + seconds(20));
  EXPECT_TRUE(IsSet(t, "not-in-map-poll"));
  EXPECT_TRUE(Visible(t, "wantrunning-false", t0 + minutes(20)));
  EXPECT_FALSE(Visible(t, "not-in-map-poll", t0 + minutes(20)));
  t.SetIPNState("Starting", true, t0 + minutes(20));
  EXPECT_TRUE(Visible(t, "warming-up", t0 + minutes(20)));
  const auto state = t.CurrentState(t0 + minutes(20));
  EXPECT_EQ(state["Warnings"].size(), 2u) << state.dump();
  EXPECT_EQ(state["Warnings"]["not-in-map-poll"]["DependsOn"].back(),
            "warming-up");
  t.SetIPNState("Running", true, t0 + minutes(20) + seconds(1));
  EXPECT_FALSE(IsSet(t, "warming-up"));
  EXPECT_TRUE(Visible(t, "not-in-map-poll", t0 + minutes(21)));
}

TEST(FakeHealthTracker, RouterErrorIsTheLegacyRouterWarnable) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  t.inputs().router_error = "2 add route failures; first was: network is down";
  t.SelfCheck(t0);
  const auto w = t.CurrentState(t0)["Warnings"]["router"];
  EXPECT_EQ(w["Title"], "");
  EXPECT_EQ(w["Text"], "2 add route failures; first was: network is down");
  EXPECT_EQ(w["Args"]["LegacyError"], w["Text"]);
  EXPECT_EQ(t.LegacyStrings(t0).front(), w["Text"]);
}

TEST(FakeHealthTracker, ETagIsStableAndFollowsTheContent) {
  const Time t0{};
  HealthTracker t = Healthy(t0);
  t.inputs().router_error = "network is down";
  t.SelfCheck(t0);
  const auto first = t.CurrentState(t0)["Warnings"]["router"]["ETag"];
  EXPECT_EQ(first.get<std::string>().size(), 64u);
  t.SelfCheck(t0 + seconds(1));
  EXPECT_EQ(t.CurrentState(t0)["Warnings"]["router"]["ETag"], first);
  t.inputs().router_error = "file exists";
  t.SelfCheck(t0 + seconds(2));
  EXPECT_NE(t.CurrentState(t0)["Warnings"]["router"]["ETag"], first);
}

// tailcfg.CurrentCapabilityVersion at the release tags.
TEST(FakeHealthTracker, CapabilityVersionByRelease) {
  EXPECT_EQ(CapabilityVersion("1.103.0-dev"), 145);
  EXPECT_EQ(CapabilityVersion("1.102.3-t53a0d659a"), 142);
  EXPECT_EQ(CapabilityVersion("1.98.3-1 (OpenWrt)"), 138);
  EXPECT_EQ(CapabilityVersion("1.92.5-t1c215f6e5-g9b792287b"), 131);
  EXPECT_EQ(CapabilityVersion("1.66.4"), 95);
  EXPECT_EQ(CapabilityVersion("1.58.2"), 85);
  EXPECT_TRUE(VersionAtLeast("1.70.0", 1, 70));
  EXPECT_FALSE(VersionAtLeast("1.66.4", 1, 70));
}

NetState State(const std::string& def,
               std::map<std::string, std::set<std::string>> ips) {
  NetState s;
  s.default_interface = def;
  s.interface_ips = std::move(ips);
  return s;
}

TEST(FakeNetmon, DeltaOfWhatNetmonNotices) {
  const NetState before =
      State("wan0", {{"wan0", {"198.51.100.2"}}, {"wan1", {"203.0.113.2"}}});
  const NetChange moved = Compare(before, State("wan1", before.interface_ips));
  EXPECT_TRUE(moved.default_interface_changed);
  EXPECT_TRUE(moved.major);
  EXPECT_EQ(moved.why, "default-route-interface wan0 -> wan1");
  const NetChange renumbered = Compare(
      before,
      State("wan0", {{"wan0", {"198.51.100.3"}}, {"wan1", {"203.0.113.2"}}}));
  EXPECT_FALSE(renumbered.default_interface_changed);
  EXPECT_FALSE(renumbered.new_state.HasIp("198.51.100.2"));
  EXPECT_EQ(renumbered.why, "198.51.100.2 gone, 198.51.100.3 new");
  const NetChange gone = Compare(before, State("", before.interface_ips));
  EXPECT_FALSE(gone.major) << "no default route: nothing to rebind to";
  EXPECT_TRUE(before.AnyInterfaceUp());
  EXPECT_FALSE(State("", {{"wan0", {}}}).AnyInterfaceUp());
}

}  // namespace
}  // namespace fake
