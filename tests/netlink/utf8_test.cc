// netlink/utf8.h: the helpers that make outside text safe for JSON and logs.
#include "netlink/utf8.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace netlink {
namespace {

TEST(Utf8Test, ValidityFollowsRfc3629) {
  const struct {
    std::string text;
    bool valid;
  } cases[] = {
      {"", true},
      {"eth0", true},
      {"caf\xC3\xA9", true},          // é
      {"\xE2\x82\xAC", true},         // €
      {"\xF0\x9F\x98\x80", true},     // U+1F600
      {"\xF4\x8F\xBF\xBF", true},     // U+10FFFF
      {"\xFF", false},                // never in UTF-8
      {"wan\x80", false},             // a lone continuation byte
      {"\xC3", false},                // cut short
      {"\xC0\xAF", false},            // overlong '/'
      {"\xE0\x80\xAF", false},        // overlong '/'
      {"\xED\xA0\x80", false},        // a surrogate
      {"\xF4\x90\x80\x80", false},    // above U+10FFFF
      {"\xF0\x9F\x98", false},        // cut short
      {std::string("a\0b", 3), true}  // NUL is a character
  };
  for (const auto& c : cases) {
    EXPECT_EQ(IsValidUtf8(c.text), c.valid) << testing::PrintToString(c.text);
  }
}

TEST(Utf8Test, InvalidSequencesBecomeOneReplacementEach) {
  EXPECT_EQ(ToValidUtf8("wan\xFF"), "wan\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  // A sequence cut short is one maximal subpart: one U+FFFD.
  EXPECT_EQ(ToValidUtf8("\xF0\x9F\x98x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

// What the state file needs: whatever the bytes, nlohmann::json can dump
// the result (it throws type_error 316 on invalid UTF-8).
TEST(Utf8Test, AnythingMadeValidDumpsAsJson) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  for (const std::string& text :
       {every_byte, std::string("\xE2\x82"), std::string("x\xF4\x90")}) {
    nlohmann::json j = ToValidUtf8(text);
    EXPECT_NO_THROW((void)j.dump());
    EXPECT_TRUE(IsValidUtf8(ToValidUtf8(text)));
  }
}

TEST(Utf8Test, PrefixNeverCutsACharacter) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  const std::string text = "ab" + euro + "c";
  EXPECT_EQ(Utf8Prefix(text, 10), text);
  EXPECT_EQ(Utf8Prefix(text, 6), text);
  EXPECT_EQ(Utf8Prefix(text, 5), "ab" + euro);
  EXPECT_EQ(Utf8Prefix(text, 4), "ab");
  EXPECT_EQ(Utf8Prefix(text, 3), "ab");
  EXPECT_EQ(Utf8Prefix(text, 2), "ab");
  EXPECT_EQ(Utf8Prefix(text, 0), "");
  // Every cut of a long run of multi-byte characters stays valid.
  std::string run;
  for (int i = 0; i < 50; ++i) run += "\xC3\xA9\xF0\x9F\x98\x80" + euro;
  for (size_t cut = 0; cut <= run.size(); ++cut) {
    const std::string_view prefix = Utf8Prefix(run, cut);
    EXPECT_TRUE(IsValidUtf8(prefix)) << cut;
    EXPECT_GE(prefix.size() + 3, cut) << cut;
  }
}

TEST(Utf8Test, LogTextIsOneLineOfValidUtf8) {
  EXPECT_EQ(EscapeForLog("plain text\twith a tab"), "plain text\twith a tab");
  EXPECT_EQ(EscapeForLog("bad\n<0>critical: forged"),
            "bad\\n<0>critical: forged");
  EXPECT_EQ(EscapeForLog("a\rb\x1b[31mc\x7f"), "a\\rb\\x1b[31mc\\x7f");
  EXPECT_EQ(EscapeForLog("caf\xC3\xA9 \xFF"), "caf\xC3\xA9 \xEF\xBF\xBD");
}

}  // namespace
}  // namespace netlink
