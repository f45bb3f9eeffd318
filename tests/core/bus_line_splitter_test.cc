#include "watchdog/core/bus_line_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace watchdog {
namespace {

std::vector<std::string> Drain(BusLineSplitter& splitter) {
  std::vector<std::string> lines;
  while (auto line = splitter.NextLine()) lines.push_back(*line);
  return lines;
}

TEST(BusLineSplitterTest, LinesCutAnywhereComeOutWhole) {
  BusLineSplitter splitter(100);
  EXPECT_TRUE(splitter.Feed("{\"State\":"));
  EXPECT_FALSE(splitter.has_lines());
  EXPECT_EQ(splitter.partial_size(), 9u);
  EXPECT_TRUE(splitter.Feed("6}\n{\"Vers"));
  EXPECT_TRUE(splitter.Feed("ion\":\"1\"}\n"));
  EXPECT_EQ(Drain(splitter),
            (std::vector<std::string>{"{\"State\":6}", "{\"Version\":\"1\"}"}));
  EXPECT_EQ(splitter.partial_size(), 0u);
}

TEST(BusLineSplitterTest, BlankLinesAreSkipped) {
  BusLineSplitter splitter(100);
  EXPECT_TRUE(splitter.Feed("\n\na\n\nb\n"));
  EXPECT_EQ(Drain(splitter), (std::vector<std::string>{"a", "b"}));
}

TEST(BusLineSplitterTest, AnUnterminatedLineIsNotALine) {
  BusLineSplitter splitter(100);
  EXPECT_TRUE(splitter.Feed("a\nhalf"));
  EXPECT_EQ(Drain(splitter), (std::vector<std::string>{"a"}));
  EXPECT_EQ(splitter.partial_size(), 4u);
}

TEST(BusLineSplitterTest, ALineOfExactlyTheCapFits) {
  BusLineSplitter splitter(4);
  EXPECT_TRUE(splitter.Feed("ab"));
  EXPECT_TRUE(splitter.Feed("cd\n"));
  EXPECT_EQ(Drain(splitter), (std::vector<std::string>{"abcd"}));
}

TEST(BusLineSplitterTest, ALineOverTheCapFailsAcrossChunks) {
  BusLineSplitter splitter(4);
  EXPECT_TRUE(splitter.Feed("ok\nabc"));
  EXPECT_FALSE(splitter.Feed("de"));  // 5 bytes without a newline yet
  EXPECT_TRUE(splitter.overflowed());
  // Lines completed before the overflow are kept; nothing is taken after.
  EXPECT_EQ(Drain(splitter), (std::vector<std::string>{"ok"}));
  EXPECT_FALSE(splitter.Feed("\nx\n"));
  EXPECT_FALSE(splitter.has_lines());
}

}  // namespace
}  // namespace watchdog
