// Parsing of LocalAPI replies: the shared fixtures and hostile variations.
#include "watchdog/localapi/tailscale_json.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "tests/localapi/test_fixtures.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {
namespace {

TEST(TailscaleTypesTest, ParsesOpenWrtStatusWithoutNodeId) {
  auto s = ParseStatus(ReadFixture("status-running-openwrt-1.98.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->version, "1.98.3-1 (OpenWrt)");
  EXPECT_EQ(s->backend_state, BackendState::kRunning);
  EXPECT_TRUE(s->self_online);
  EXPECT_EQ(s->self_relay, "fra");
  EXPECT_EQ(s->self_node_id, 0);
  ASSERT_EQ(s->health.size(), 1u);
  EXPECT_FALSE(s->health_was_null);
}

TEST(TailscaleTypesTest, ParsesInt64NodeIdExactly) {
  auto s = ParseStatus(ReadFixture("status-running-but-offline-1.102.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->self_node_id, 4981177045226314LL);
  EXPECT_FALSE(s->self_online);
  auto big = ParseStatus(
      R"({"BackendState":"Running","Self":{"NodeID":9223372036854775807}})");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->self_node_id, INT64_MAX);
}

TEST(TailscaleTypesTest, StuckStartingFixture) {
  auto s = ParseStatus(ReadFixture("status-stuck-starting-no-derp-1.102.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->backend_state, BackendState::kStarting);
  EXPECT_EQ(s->self_relay, "");
}

TEST(TailscaleTypesTest, HealthNullAndEmptyBothEmpty) {
  auto null_health = ParseStatus(R"({"BackendState":"Running","Health":null})");
  auto empty_health = ParseStatus(R"({"BackendState":"Running","Health":[]})");
  ASSERT_TRUE(null_health.ok() && empty_health.ok());
  EXPECT_TRUE(null_health->health.empty());
  EXPECT_TRUE(null_health->health_was_null);
  EXPECT_TRUE(empty_health->health.empty());
  EXPECT_FALSE(empty_health->health_was_null);
}

TEST(TailscaleTypesTest, UnknownFieldsAndWrongTypesAreTolerated) {
  auto s = ParseStatus(
      R"({"NewThing":{"x":[1,2]},"BackendState":"Running","Self":{"Online":"yes","Relay":7}})");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->self_online);
  EXPECT_EQ(s->self_relay, "");
}

TEST(TailscaleTypesTest, RejectsGarbage) {
  EXPECT_FALSE(ParseStatus("{\"BackendState\": \"Runn").ok());
  EXPECT_FALSE(ParseStatus("[]").ok());
  EXPECT_FALSE(ParseStatus("{}").ok());  // no BackendState
  EXPECT_FALSE(ParseNotify("not json").ok());
  EXPECT_FALSE(ParsePrefs("").ok());
}

TEST(TailscaleTypesTest, NotifyStateIsAnIntegerOnTheBus) {
  auto n = ParseNotify(R"({"Version":"1","State":5})");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->state, BackendState::kStarting);
  EXPECT_FALSE(ParseNotify(R"({"State":"Running"})").ok());
  auto null_state = ParseNotify(R"({"State":null})");
  ASSERT_TRUE(null_state.ok());
  EXPECT_FALSE(null_state->state.has_value());
}

TEST(TailscaleTypesTest, BusStreamFixtureLines) {
  std::istringstream in(ReadFixture("watch-ipn-bus-stream-1.102.jsonl"));
  std::vector<Notify> notes;
  std::string line;
  while (std::getline(in, line)) {
    auto n = ParseNotify(line);
    ASSERT_TRUE(n.ok()) << n.error().message;
    notes.push_back(*n);
  }
  ASSERT_EQ(notes.size(), 8u);
  EXPECT_EQ(notes[0].session_id, "3c9e0b7a41f2d865");
  EXPECT_EQ(notes[0].state, BackendState::kRunning);
  ASSERT_TRUE(notes[0].health.has_value());
  EXPECT_TRUE(notes[0].health->warnings.empty());  // "Warnings": null
  ASSERT_TRUE(notes[1].health.has_value());
  EXPECT_TRUE(notes[1].health->warnings.count("network-status"));
  EXPECT_TRUE(
      notes[1].health->warnings.at("network-status").impacts_connectivity);
  EXPECT_EQ(notes[3]
                .health->warnings.at("no-derp-connection")
                .args.at("derp-region-name"),
            "Frankfurt");
  ASSERT_TRUE(notes[5].engine.has_value());
  EXPECT_EQ(notes[5].engine->live_derps, 1);
  EXPECT_EQ(notes[5].engine->num_live, 2);
  EXPECT_FALSE(notes[5].health.has_value());  // absent, not "healthy"
  EXPECT_EQ(notes[6].state, BackendState::kStarting);
}

TEST(TailscaleTypesTest, FellBehindIsRecognised) {
  auto n = ParseNotify(
      R"({"ErrMessage":"IPN bus consumer fell behind; closing watch"})");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(IsFellBehind(*n));
}

// Mutated fixtures (flipped, dropped and duplicated bytes) must give a value
// or an error, never a crash (ASan/UBSan builds check the rest).
TEST(TailscaleTypesTest, MutatedRepliesNeverCrash) {
  const std::vector<std::string> seeds = {
      ReadFixture("status-running-but-offline-1.102.json"),
      ReadFixture("notify-health-control-lost-1.102.json"),
      ReadFixture("watch-ipn-bus-stream-1.102.jsonl"),
  };
  std::mt19937 rng(20261122);
  int parsed = 0;
  for (int round = 0; round < 1000; ++round) {
    std::string text = seeds[round % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          text.erase(at, 1 + rng() % 16);
          break;
        default:
          text.insert(at, text.substr(at, 1 + rng() % 16));
          break;
      }
    }
    parsed += ParseStatus(text).ok();
    parsed += ParseNotify(text).ok();
    parsed += ParseHealthState(text).ok();
    parsed += ParsePrefs(text).ok();
  }
  EXPECT_GT(parsed, 0);  // some mutations stay valid JSON
}

TEST(LocalApiErrorBodyTest, AllThreeShapes) {
  EXPECT_EQ(ServerMessageFromBody("debug access denied\n"),
            "debug access denied");
  EXPECT_EQ(ServerMessageFromBody(R"({"error":"no matching peer"})"),
            "no matching peer");
  EXPECT_EQ(ServerMessageFromBody("{\"Error\":\"policy says no\"}\n"),
            "policy says no");
  EXPECT_EQ(ServerMessageFromBody(""), "(empty body)");
  EXPECT_LE(ServerMessageFromBody(std::string(10000, 'x')).size(), 310u);
}

}  // namespace
}  // namespace watchdog
