// Bounds-checked reading of netlink wire data, shared by the rtnetlink parser
// (parser.cc) and the sock_diag parser (sock_diag.cc). Everything copies what
// it reads, so the input need not be aligned; nothing reads past a span.
#ifndef TSWATCHDOG_NETLINK_WIRE_H_
#define TSWATCHDOG_NETLINK_WIRE_H_

#include <linux/netlink.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "netlink/messages.h"
#include "netlink/utf8.h"

namespace netlink::wire {

constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

// Reads a trivially copyable T at `offset` of `bytes`, or fails.
template <typename T>
bool ReadAt(std::span<const uint8_t> bytes, size_t offset, T* out) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(out, bytes.data() + offset, sizeof(T));
  return true;
}

struct Attribute {
  uint16_t type;  // NLA_TYPE_MASK applied
  std::span<const uint8_t> payload;
};

// Walks the attributes in `area`, calling `visit` for each. Returns false if an
// attribute header or length runs past the area, or `visit` returns false.
template <typename Visit>
bool ForEachAttribute(std::span<const uint8_t> area, Visit visit) {
  size_t offset = 0;
  while (offset < area.size()) {
    nlattr header;
    if (!ReadAt(area, offset, &header)) return false;
    if (header.nla_len < sizeof(nlattr) ||
        header.nla_len > area.size() - offset) {
      return false;
    }
    Attribute attr{
        static_cast<uint16_t>(header.nla_type & NLA_TYPE_MASK),
        area.subspan(offset + sizeof(nlattr), header.nla_len - sizeof(nlattr))};
    if (!visit(attr)) return false;
    // The last attribute may omit its padding.
    offset += std::min(Align4(header.nla_len), area.size() - offset);
  }
  return true;
}

inline bool AttrU32(const Attribute& attr, uint32_t* out) {
  return attr.payload.size() == sizeof(uint32_t) &&
         ReadAt(attr.payload, 0, out);
}

inline bool AttrI32(const Attribute& attr, int32_t* out) {
  return attr.payload.size() == sizeof(int32_t) && ReadAt(attr.payload, 0, out);
}

// Strings are NUL-terminated on the wire; tolerate a missing terminator.
// The kernel takes any bytes but '/', ':' and whitespace in an interface
// name (dev_valid_name()), so a name can be invalid UTF-8: it is made valid
// here, where it enters, because names end up in JSON and in log lines.
inline std::string AttrString(const Attribute& attr) {
  const auto* begin = reinterpret_cast<const char*>(attr.payload.data());
  size_t len = attr.payload.size();
  const void* nul = std::memchr(begin, '\0', len);
  if (nul != nullptr) len = static_cast<const char*>(nul) - begin;
  return ToValidUtf8(std::string_view(begin, len));
}

// Walks the nlmsghdr chain of one datagram, calling
// `visit(header, message_bytes, offset)` for each message; `visit` returns
// nullopt to go on or the error that stops the walk. A header or length that
// does not fit stops it too (the rest can no longer be trusted).
template <typename Visit>
std::optional<ParseError> ForEachMessage(std::span<const uint8_t> datagram,
                                         Visit visit) {
  size_t offset = 0;
  while (offset < datagram.size()) {
    nlmsghdr header;
    if (!ReadAt(datagram, offset, &header)) {
      return ParseError{
          ParseErrorKind::kTruncatedHeader, offset,
          std::to_string(datagram.size() - offset) + " bytes left"};
    }
    if (header.nlmsg_len < sizeof(nlmsghdr) ||
        header.nlmsg_len > datagram.size() - offset) {
      return ParseError{
          ParseErrorKind::kBadMessageLength, offset,
          "nlmsg_len " + std::to_string(header.nlmsg_len) + " with " +
              std::to_string(datagram.size() - offset) + " bytes left"};
    }
    if (std::optional<ParseError> error =
            visit(header, datagram.subspan(offset, header.nlmsg_len), offset)) {
      return error;
    }
    offset += std::min(Align4(header.nlmsg_len), datagram.size() - offset);
  }
  return std::nullopt;
}

// The error code of an NLMSG_ERROR message (`message` includes its nlmsghdr).
// The kernel may cap the echoed request, but the code itself is always there.
inline std::optional<int32_t> ErrorCode(std::span<const uint8_t> message) {
  int32_t code;
  if (!ReadAt(message, sizeof(nlmsghdr) + offsetof(nlmsgerr, error), &code)) {
    return std::nullopt;
  }
  return code;
}

}  // namespace netlink::wire

#endif  // TSWATCHDOG_NETLINK_WIRE_H_
