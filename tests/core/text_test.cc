#include "watchdog/core/text.h"

#include <gtest/gtest.h>

namespace watchdog {
namespace {

TEST(QueryEscapeTest, KeepsOnlyTheUnreservedCharacters) {
  const struct {
    std::string_view in;
    std::string out;
  } cases[] = {
      {"", ""},
      {"AZaz09-._~", "AZaz09-._~"},
      {"tswatchdog: before reup", "tswatchdog%3A%20before%20reup"},
      {"a&b=c+d/e?f#g%h", "a%26b%3Dc%2Bd%2Fe%3Ff%23g%25h"},
      {"caf\xC3\xA9", "caf%C3%A9"},
      {std::string_view("\0\n\xFF", 3), "%00%0A%FF"},
  };
  for (const auto& c : cases) EXPECT_EQ(QueryEscape(c.in), c.out) << c.in;
}

TEST(TrimTest, DropsTheGivenCharactersAtBothEnds) {
  EXPECT_EQ(Trim("  a b \t\n"), "a b");
  EXPECT_EQ(Trim(" \t "), "");
  EXPECT_EQ(Trim("xxaxx", "x"), "a");
}

}  // namespace
}  // namespace watchdog
