// What counts as a change of the state and metrics files (README, "State
// file": when it is written): the durations in the evidence's words do not,
// the clock moving does not, a verdict, a count or the wall clock being set
// does. Pure tables; the daemon's use of them is in executor_test.cc, the
// real files in lab/state_file_lab_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "watchdog/core/connection_verdict.h"
#include "watchdog/daemon/publisher.h"
#include "watchdog/daemon/snapshot.h"

namespace watchdog {
namespace {

using namespace std::chrono_literals;

struct MaskCase {
  const char* text;
  const char* masked;
};

TEST(MaskDurationsTest, MasksDurationsAndKeepsCountsAndAddresses) {
  const MaskCase cases[] = {
      {"control 198.51.100.2:41234 -> 192.0.2.10:80: last data 12 s ago, "
       "last ACK 1.5 s ago, nothing unanswered",
       "control 198.51.100.2:41234 -> 192.0.2.10:80: last data # ago, "
       "last ACK # ago, nothing unanswered"},
      {"2 keep-alive probes unanswered, last data 71 s ago",
       "2 keep-alive probes unanswered, last data # ago"},
      {"3 retransmissions unanswered, last ACK 250 ms ago",
       "3 retransmissions unanswered, last ACK # ago"},
      {"no data for 85 s (its server sends some about every minute)",
       "no data for # (its server sends some about every minute)"},
      {"connecting, 2 SYNs unanswered", "connecting, 2 SYNs unanswered"},
      {"DERP 1a 203.0.113.2:40112 -> 198.51.100.7:443: not established "
       "(syn-sent)",
       "DERP 1a 203.0.113.2:40112 -> 198.51.100.7:443: not established "
       "(syn-sent)"},
      {"tcp_info of 104 bytes, too short to judge",
       "tcp_info of 104 bytes, too short to judge"},
      {"wan (wan0) offline per mwan3; its mark 0x100",
       "wan (wan0) offline per mwan3; its mark 0x100"},
      {"12 s", "#"},
      {"(12 s)", "(#)"},
      {"12s", "12s"},          // not FormatMillis's
      {"wan12 s", "wan12 s"},  // part of a word
      {"1.5 seconds", "1.5 seconds"},
      {"10.0.0.1 s", "10.0.0.1 s"},  // an address, not a duration
      {"", ""},
  };
  for (const MaskCase& c : cases) {
    EXPECT_EQ(MaskDurations(c.text), c.masked) << c.text;
  }
}

// Whatever FormatMillis writes (the evidence's durations) is masked.
TEST(MaskDurationsTest, MasksEveryFormatMillis) {
  for (uint64_t ms : {0ull, 1ull, 999ull, 1000ull, 1500ull, 9949ull, 9999ull,
                      10000ull, 71000ull, 86400000ull}) {
    EXPECT_EQ(MaskDurations("last data " + FormatMillis(ms) + " ago"),
              "last data # ago")
        << FormatMillis(ms);
  }
}

PublishedView ViewOf(std::string content,
                     std::chrono::milliseconds offset = 0ms,
                     std::chrono::milliseconds interval = 60s) {
  return {std::move(content),
          {"/run/tswatchdog/state.json", "/var/lib/prom/tsw.prom", interval},
          offset};
}

struct WhyCase {
  const char* name;
  std::optional<PublishedView> last;
  PublishedView next;
  bool forced;
  PublishReason want;
};

TEST(WhyPublishTest, OnlyARealChangeIsWritten) {
  const WhyCase cases[] = {
      {"nothing written yet", std::nullopt, ViewOf("a"), false,
       PublishReason::kFirst},
      {"a forced write with nothing written", std::nullopt, ViewOf("a"), true,
       PublishReason::kFirst},
      {"the same", ViewOf("a"), ViewOf("a"), false, PublishReason::kUnchanged},
      {"the content", ViewOf("a"), ViewOf("b"), false, PublishReason::kContent},
      {"a reload", ViewOf("a"), ViewOf("a"), true, PublishReason::kForced},
      {"another metrics_interval", ViewOf("a"), ViewOf("a", 0ms, 30s), false,
       PublishReason::kTargets},
      {"the wall clock slewed", ViewOf("a", 5000ms), ViewOf("a", 5999ms), false,
       PublishReason::kUnchanged},
      {"slewed back", ViewOf("a", 5000ms), ViewOf("a", 4001ms), false,
       PublishReason::kUnchanged},
      {"the wall clock set forward", ViewOf("a", 5000ms), ViewOf("a", 6000ms),
       false, PublishReason::kClockSet},
      {"the wall clock set back (NTP at boot)", ViewOf("a", 5000ms),
       ViewOf("a", -3600000ms), false, PublishReason::kClockSet},
  };
  for (const WhyCase& c : cases) {
    EXPECT_EQ(PublishReasonName(WhyPublish(c.last, c.next, c.forced)),
              std::string(PublishReasonName(c.want)))
        << c.name;
  }
}

JudgedConnection Control(Verdict verdict, const std::string& words) {
  JudgedConnection c;
  c.kind = ConnectionKind::kControl;
  c.verdict = verdict;
  c.evidence = "control 198.51.100.2:41234 -> 192.0.2.10:80: " + words;
  return c;
}

Snapshot Healthy(MonoTime now, const std::string& words) {
  Snapshot s;
  s.state = State::kHealthy;
  s.since = MonoTime{} + 100s;
  s.evidence.known = true;
  s.evidence.connections = {Control(Verdict::kLive, words)};
  s.evidence_checked = now;
  s.diagnosis.why = s.evidence.connections[0].evidence;
  return s;
}

// Two checks 15 s apart over the same live connection: the same content.
// A verdict, a count or the disruptive budget moving: another.
TEST(StableContentTest, TheClockAloneChangesNothing) {
  const MonoTime t0 = MonoTime{} + 1h;
  const std::string base = StableContent(
      Healthy(t0, "last data 3 s ago, last ACK 3 s ago, nothing unanswered"));
  EXPECT_EQ(StableContent(Healthy(t0 + 15s,
                                  "last data 18 s ago, last ACK 1.2 s ago, "
                                  "nothing unanswered")),
            base);

  Snapshot suspect = Healthy(t0, "");
  suspect.evidence.connections[0] =
      Control(Verdict::kSuspect,
              "a keep-alive probe unanswered, last ACK 36 s "
              "ago, last data 36 s ago");
  EXPECT_NE(StableContent(suspect), base);

  Snapshot counted = Healthy(t0,
                             "last data 3 s ago, last ACK 3 s ago, "
                             "nothing unanswered");
  counted.disruptive_last_hour = 1;
  EXPECT_NE(StableContent(counted), base);

  Snapshot later = Healthy(t0,
                           "last data 3 s ago, last ACK 3 s ago, "
                           "nothing unanswered");
  later.since += 1ms;  // another transition
  EXPECT_NE(StableContent(later), base);
}

// The file itself carries when the connections were checked, as a wall time
// through the clocks of the write.
TEST(StableContentTest, TheStateFileSaysWhenTheConnectionsWereChecked) {
  const MonoTime t0 = MonoTime{} + 1h;
  const ClockPair clocks{std::chrono::system_clock::time_point{} + 24h,
                         t0 + 10s};
  const nlohmann::json state =
      StateJson(Healthy(t0, "last data 3 s ago"), clocks, 1);
  EXPECT_EQ(state["connections"]["checked"], "1970-01-01T23:59:50.000Z");
  EXPECT_EQ(state["connections"]["checked_unix_ms"], 86390000);
  Snapshot unchecked = Healthy(t0, "");
  unchecked.evidence_checked.reset();
  EXPECT_FALSE(
      StateJson(unchecked, clocks, 1)["connections"].contains("checked"));
}

}  // namespace
}  // namespace watchdog
