#include "netlink/parser.h"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "netlink/utf8.h"

namespace netlink {
namespace {

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
// attribute header or length runs past the area.
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

bool AttrU32(const Attribute& attr, uint32_t* out) {
  return attr.payload.size() == sizeof(uint32_t) &&
         ReadAt(attr.payload, 0, out);
}

bool AttrI32(const Attribute& attr, int32_t* out) {
  return attr.payload.size() == sizeof(int32_t) && ReadAt(attr.payload, 0, out);
}

// Strings are NUL-terminated on the wire; tolerate a missing terminator.
// The kernel takes any bytes but '/', ':' and whitespace in an interface
// name (dev_valid_name()), so a name can be invalid UTF-8: it is made valid
// here, where it enters, because names end up in JSON and in log lines.
std::string AttrString(const Attribute& attr) {
  const auto* begin = reinterpret_cast<const char*>(attr.payload.data());
  size_t len = attr.payload.size();
  const void* nul = std::memchr(begin, '\0', len);
  if (nul != nullptr) len = static_cast<const char*>(nul) - begin;
  return ToValidUtf8(std::string_view(begin, len));
}

bool AttrAddress(const Attribute& attr, size_t expected_size,
                 std::optional<IpAddress>* out) {
  if (attr.payload.size() != expected_size) return false;
  *out = IpAddress::FromBytes(attr.payload);
  return out->has_value();
}

size_t AddressSize(uint8_t af) {
  return af == AF_INET ? 4 : af == AF_INET6 ? 16 : 0;
}

class MessageParser {
 public:
  MessageParser(std::span<const uint8_t> message, size_t datagram_offset)
      : message_(message), datagram_offset_(datagram_offset) {}

  std::optional<ParseError> error() const { return error_; }

  // Each returns nullopt and sets error_ on malformed input.
  std::optional<MessageBody> Parse(uint16_t type);

 private:
  std::span<const uint8_t> Payload() const {
    return message_.subspan(sizeof(nlmsghdr));
  }
  // Attributes follow the fixed struct, aligned.
  std::span<const uint8_t> AttributesAfter(size_t fixed_size) const {
    auto payload = Payload();
    size_t start = std::min(Align4(fixed_size), payload.size());
    return payload.subspan(start);
  }
  template <typename T>
  bool ReadFixed(T* out) {
    if (ReadAt(Payload(), 0, out)) return true;
    Fail(ParseErrorKind::kTruncatedPayload,
         "payload of " + std::to_string(Payload().size()) +
             " bytes is shorter than its " + std::to_string(sizeof(T)) +
             "-byte header");
    return false;
  }
  void Fail(ParseErrorKind kind, std::string detail) {
    error_ = ParseError{kind, datagram_offset_, std::move(detail)};
  }
  template <typename Visit>
  bool Attributes(size_t fixed_size, Visit visit) {
    if (ForEachAttribute(AttributesAfter(fixed_size), visit)) return true;
    Fail(ParseErrorKind::kBadAttribute,
         "attribute out of bounds or of bad size");
    return false;
  }

  std::optional<MessageBody> ParseLink(bool deleted);
  std::optional<MessageBody> ParseAddress(bool deleted);
  std::optional<MessageBody> ParseRoute(bool deleted);
  std::optional<MessageBody> ParseRule(bool deleted);
  std::optional<MessageBody> ParseErrorMessage();

  std::span<const uint8_t> message_;
  size_t datagram_offset_;
  std::optional<netlink::ParseError> error_;
};

std::optional<MessageBody> MessageParser::Parse(uint16_t type) {
  switch (type) {
    case NLMSG_DONE:
      return DoneMessage{};
    case NLMSG_ERROR:
      return ParseErrorMessage();
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return ParseLink(type == RTM_DELLINK);
    case RTM_NEWADDR:
    case RTM_DELADDR:
      return ParseAddress(type == RTM_DELADDR);
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      return ParseRoute(type == RTM_DELROUTE);
    case RTM_NEWRULE:
    case RTM_DELRULE:
      return ParseRule(type == RTM_DELRULE);
    default:
      return OtherMessage{type};
  }
}

std::optional<MessageBody> MessageParser::ParseErrorMessage() {
  // The kernel may cap the echoed request, but the errno itself is always
  // there.
  int32_t code;
  if (!ReadAt(Payload(), offsetof(nlmsgerr, error), &code)) {
    Fail(ParseErrorKind::kTruncatedPayload,
         "NLMSG_ERROR without an error code");
    return std::nullopt;
  }
  return ErrorMessage{code};
}

std::optional<MessageBody> MessageParser::ParseLink(bool deleted) {
  ifinfomsg info;
  if (!ReadFixed(&info)) return std::nullopt;
  LinkMessage link;
  link.deleted = deleted;
  link.index = info.ifi_index;
  link.flags = info.ifi_flags;
  bool wireless = false;
  bool other = false;
  bool ok = Attributes(sizeof info, [&](const Attribute& attr) {
    switch (attr.type) {
      case IFLA_IFNAME:
        link.name = AttrString(attr);
        other = true;
        return true;
      case IFLA_WIRELESS:
        wireless = true;
        return true;
      case IFLA_LINKINFO:
        other = true;
        return ForEachAttribute(attr.payload, [&](const Attribute& nested) {
          if (nested.type == IFLA_INFO_KIND) link.kind = AttrString(nested);
          return true;
        });
      default:
        other = true;
        return true;
    }
  });
  if (!ok) return std::nullopt;
  // Wireless drivers send RTM_NEWLINK carrying only IFLA_WIRELESS events
  // (scan results and the like); they say nothing about the link state.
  link.wireless_only = wireless && !other;
  return link;
}

std::optional<MessageBody> MessageParser::ParseAddress(bool deleted) {
  ifaddrmsg info;
  if (!ReadFixed(&info)) return std::nullopt;
  const size_t addr_size = AddressSize(info.ifa_family);
  if (addr_size == 0)
    return OtherMessage{deleted ? uint16_t{RTM_DELADDR}
                                : uint16_t{RTM_NEWADDR}};
  AddressMessage addr;
  addr.deleted = deleted;
  addr.index = static_cast<int32_t>(info.ifa_index);
  addr.prefix_len = info.ifa_prefixlen;
  addr.scope = info.ifa_scope;
  addr.flags = info.ifa_flags;
  std::optional<IpAddress> local, address;
  bool ok = Attributes(sizeof info, [&](const Attribute& attr) {
    switch (attr.type) {
      case IFA_LOCAL:
        return AttrAddress(attr, addr_size, &local);
      case IFA_ADDRESS:
        return AttrAddress(attr, addr_size, &address);
      case IFA_FLAGS:
        return AttrU32(attr, &addr.flags);
      default:
        return true;
    }
  });
  if (!ok) return std::nullopt;
  // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
  if (local) {
    addr.address = *local;
  } else if (address) {
    addr.address = *address;
  } else {
    Fail(ParseErrorKind::kBadAttribute, "address message without an address");
    return std::nullopt;
  }
  return addr;
}

std::optional<MessageBody> MessageParser::ParseRoute(bool deleted) {
  rtmsg info;
  if (!ReadFixed(&info)) return std::nullopt;
  const size_t addr_size = AddressSize(info.rtm_family);
  if (addr_size == 0) {
    return OtherMessage{deleted ? uint16_t{RTM_DELROUTE}
                                : uint16_t{RTM_NEWROUTE}};
  }
  RouteMessage route;
  route.deleted = deleted;
  route.family = info.rtm_family == AF_INET ? Family::kV4 : Family::kV6;
  route.dst_len = info.rtm_dst_len;
  route.tos = info.rtm_tos;
  route.protocol = info.rtm_protocol;
  route.scope = info.rtm_scope;
  route.type = info.rtm_type;
  route.flags = info.rtm_flags;
  route.table = info.rtm_table;
  bool ok = Attributes(sizeof info, [&](const Attribute& attr) {
    switch (attr.type) {
      case RTA_DST:
        return AttrAddress(attr, addr_size, &route.dst);
      case RTA_GATEWAY:
        return AttrAddress(attr, addr_size, &route.gateway);
      case RTA_PREFSRC:
        return AttrAddress(attr, addr_size, &route.prefsrc);
      case RTA_OIF:
        return AttrI32(attr, &route.oif);
      case RTA_PRIORITY:
        return AttrU32(attr, &route.priority);
      case RTA_TABLE:
        return AttrU32(attr, &route.table);
      case RTA_MULTIPATH:
        route.multipath = true;
        return true;
      default:
        return true;
    }
  });
  if (!ok) return std::nullopt;
  return route;
}

std::optional<MessageBody> MessageParser::ParseRule(bool deleted) {
  fib_rule_hdr info;
  if (!ReadFixed(&info)) return std::nullopt;
  if (info.family != AF_INET && info.family != AF_INET6) {
    return OtherMessage{deleted ? uint16_t{RTM_DELRULE}
                                : uint16_t{RTM_NEWRULE}};
  }
  RuleMessage rule;
  rule.deleted = deleted;
  rule.family = info.family == AF_INET ? Family::kV4 : Family::kV6;
  rule.action = info.action;
  rule.table = info.table;
  bool ok = Attributes(sizeof info, [&](const Attribute& attr) {
    uint32_t value;
    switch (attr.type) {
      case FRA_TABLE:
        return AttrU32(attr, &rule.table);
      case FRA_PRIORITY:
        return AttrU32(attr, &rule.priority);
      case FRA_FWMARK:
        if (!AttrU32(attr, &value)) return false;
        rule.fwmark = value;
        return true;
      case FRA_FWMASK:
        if (!AttrU32(attr, &value)) return false;
        rule.fwmask = value;
        return true;
      default:
        return true;
    }
  });
  if (!ok) return std::nullopt;
  return rule;
}

}  // namespace

std::string ParseError::ToString() const {
  const char* what = "";
  switch (kind) {
    case ParseErrorKind::kTruncatedHeader:
      what = "truncated netlink header";
      break;
    case ParseErrorKind::kBadMessageLength:
      what = "bad netlink message length";
      break;
    case ParseErrorKind::kTruncatedPayload:
      what = "truncated payload";
      break;
    case ParseErrorKind::kBadAttribute:
      what = "bad attribute";
      break;
  }
  std::string text = std::string(what) + " at byte " + std::to_string(offset);
  if (!detail.empty()) text += ": " + detail;
  return text;
}

int ErrnoFromNetlinkError(int code) {
  constexpr int kMaxErrno = 4095;  // the kernel's MAX_ERRNO
  if (code < -kMaxErrno || code > kMaxErrno) return EPROTO;
  return code < 0 ? -code : code;
}

ParseResult ParseDatagram(std::span<const uint8_t> datagram) {
  ParseResult result;
  size_t offset = 0;
  while (offset < datagram.size()) {
    nlmsghdr header;
    if (!ReadAt(datagram, offset, &header)) {
      result.error =
          ParseError{ParseErrorKind::kTruncatedHeader, offset,
                     std::to_string(datagram.size() - offset) + " bytes left"};
      break;
    }
    if (header.nlmsg_len < sizeof(nlmsghdr) ||
        header.nlmsg_len > datagram.size() - offset) {
      result.error = ParseError{
          ParseErrorKind::kBadMessageLength, offset,
          "nlmsg_len " + std::to_string(header.nlmsg_len) + " with " +
              std::to_string(datagram.size() - offset) + " bytes left"};
      break;
    }
    MessageParser parser(datagram.subspan(offset, header.nlmsg_len), offset);
    std::optional<MessageBody> body = parser.Parse(header.nlmsg_type);
    if (!body) {
      result.error = parser.error();
      break;
    }
    result.messages.push_back(Message{header.nlmsg_type, header.nlmsg_flags,
                                      header.nlmsg_seq, header.nlmsg_pid,
                                      std::move(*body)});
    offset += std::min(Align4(header.nlmsg_len), datagram.size() - offset);
  }
  return result;
}

}  // namespace netlink
