#include "netlink/utf8.h"

#include <cstdint>

namespace netlink {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

struct Sequence {
  size_t length = 0;  // bytes read: the whole sequence, or its broken prefix
  bool valid = false;
};

// Reads the sequence at text[i] by the table of well-formed byte sequences
// (Unicode 15, table 3-7): the second byte's range depends on the first.
Sequence ReadSequence(std::string_view text, size_t i) {
  const auto byte = [&text](size_t at) {
    return static_cast<uint8_t>(text[at]);
  };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return {1, true};
  size_t need = 0;
  uint8_t low = 0x80, high = 0xBF;  // the second byte's range
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return {1, false};  // a continuation byte, C0, C1 or F5..FF
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= text.size()) return {k, false};
    const uint8_t b = byte(i + k);
    const bool in_range = k == 1 ? (b >= low && b <= high) : (b & 0xC0) == 0x80;
    if (!in_range) return {k, false};
  }
  return {need + 1, true};
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const Sequence seq = ReadSequence(text, i);
    if (!seq.valid) return false;
    i += seq.length;
  }
  return true;
}

std::string ToValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    const Sequence seq = ReadSequence(text, i);
    if (seq.valid) {
      out.append(text.substr(i, seq.length));
    } else {
      out.append(kReplacement);
    }
    i += seq.length;
  }
  return out;
}

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Back up over at most three continuation bytes to the sequence's start;
  // keep that sequence only if it ends by max_bytes.
  size_t start = end;
  while (start > 0 && end - start < 3 &&
         (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
    --start;
  }
  const Sequence seq = ReadSequence(text, start);
  if (start + seq.length > end) end = start;
  return text.substr(0, end);
}

std::string EscapeForLog(std::string_view text) {
  const std::string valid = ToValidUtf8(text);
  std::string out;
  out.reserve(valid.size());
  for (const char c : valid) {
    const auto u = static_cast<uint8_t>(c);
    if (u >= 0x20 && u != 0x7F) {
      out += c;
    } else if (c == '\t') {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

}  // namespace netlink
