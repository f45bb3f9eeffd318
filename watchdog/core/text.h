// Small text helpers shared by every module (one of each).
#ifndef TSWATCHDOG_WATCHDOG_CORE_TEXT_H_
#define TSWATCHDOG_WATCHDOG_CORE_TEXT_H_

#include <string>
#include <string_view>

namespace watchdog {

// What C's isspace() accepts in the "C" locale.
inline constexpr std::string_view kWhitespace = " \t\n\r\f\v";

constexpr bool IsSpace(char c) {
  return c != '\0' && kWhitespace.find(c) != std::string_view::npos;
}

// `text` without the leading and trailing characters of `chars`.
constexpr std::string_view Trim(std::string_view text,
                                std::string_view chars = kWhitespace) {
  const size_t begin = text.find_first_not_of(chars);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(chars) - begin + 1);
}

// `text` as a URL query value: every byte but RFC 3986's unreserved
// characters (ALPHA DIGIT - . _ ~) as %XX, like curl_easy_escape.
inline std::string QueryEscape(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                            c == '_' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_TEXT_H_
