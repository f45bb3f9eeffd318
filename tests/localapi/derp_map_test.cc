// `GET derpmap` parsing (tailcfg.DERPMap): what the classifier needs to tell
// DERP connections from the control connection.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {
namespace {

std::string ReadData(const std::string& name) {
  std::ifstream in(std::string(TSWATCHDOG_TEST_DATA) + "/localapi/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(DerpMap, ParsesServersInRegionOrder) {
  auto map = ParseDerpMap(ReadData("derpmap-1.102.json"));
  ASSERT_TRUE(map.ok()) << map.error().message;
  EXPECT_EQ(map->skipped, 0u);
  ASSERT_EQ(map->servers.size(), 4u);  // the STUN-only node left out
  const DerpServer& c = map->servers[0];
  EXPECT_EQ(c.name, "4c");
  EXPECT_EQ(c.region_id, 4);
  EXPECT_EQ(c.host, "derp4c.example.com");
  EXPECT_EQ(c.ipv4->ToString(), "192.0.2.43");
  EXPECT_EQ(c.ipv6->ToString(), "2001:db8:4::c");
  EXPECT_EQ(c.port, 443);
  EXPECT_EQ(map->servers[1].name, "4d");
  EXPECT_FALSE(map->servers[1].ipv4);  // "none"
  EXPECT_EQ(map->servers[2].name, "10b");
  const DerpServer& home = map->servers[3];
  EXPECT_EQ(home.name, "900a");
  EXPECT_FALSE(home.ipv4);  // by DNS only
  EXPECT_FALSE(home.ipv6);
  EXPECT_EQ(home.port, 8443);
}

TEST(DerpMap, OddInput) {
  EXPECT_FALSE(ParseDerpMap("").ok());
  EXPECT_FALSE(ParseDerpMap("[]").ok());
  EXPECT_FALSE(ParseDerpMap(R"({"Regions": 5})").ok());
  auto empty = ParseDerpMap(R"({"Regions": null})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->servers.empty());
  // Wrong types and out-of-range ports skip the node, not the map.
  auto odd = ParseDerpMap(R"({"Regions": {
      "1": {"Nodes": ["x", {"Name": "1a", "IPv4": "2001:db8::1",
                            "IPv6": "192.0.2.1", "DERPPort": 70000},
                      {"Name": "1b", "IPv4": "192.0.2.2", "DERPPort": -1},
                      {"Name": "1c", "IPv4": 7, "HostName": ["y"]}]},
      "2": {"Nodes": "none"},
      "x": 3}})");
  ASSERT_TRUE(odd.ok()) << odd.error().message;
  EXPECT_EQ(odd->skipped, 5u);
  ASSERT_EQ(odd->servers.size(), 1u);
  EXPECT_EQ(odd->servers[0].name, "1c");
  EXPECT_FALSE(odd->servers[0].ipv4);
  EXPECT_EQ(odd->servers[0].host, "");
}

}  // namespace
}  // namespace watchdog
