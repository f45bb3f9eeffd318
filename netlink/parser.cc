#include "netlink/parser.h"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "netlink/wire.h"

namespace netlink {

static_assert(kRouteTableMain == RT_TABLE_MAIN);
static_assert(kRouteTypeUnicast == RTN_UNICAST);
static_assert(kRuleActionToTable == FR_ACT_TO_TBL);
static_assert(kRuleActionBlackhole == FR_ACT_BLACKHOLE);
static_assert(kRuleActionUnreachable == FR_ACT_UNREACHABLE);

namespace {

using wire::Align4;
using wire::AttrI32;
using wire::Attribute;
using wire::AttrString;
using wire::AttrU32;
using wire::ForEachAttribute;
using wire::ReadAt;

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
  std::optional<int32_t> code = wire::ErrorCode(message_);
  if (!code) {
    Fail(ParseErrorKind::kTruncatedPayload,
         "NLMSG_ERROR without an error code");
    return std::nullopt;
  }
  return ErrorMessage{*code};
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
      case FRA_IIFNAME:
        rule.iifname = AttrString(attr);
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
  result.error = wire::ForEachMessage(
      datagram,
      [&](const nlmsghdr& header, std::span<const uint8_t> message,
          size_t offset) -> std::optional<ParseError> {
        MessageParser parser(message, offset);
        std::optional<MessageBody> body = parser.Parse(header.nlmsg_type);
        if (!body) return parser.error();
        result.messages.push_back(Message{header.nlmsg_type, header.nlmsg_flags,
                                          header.nlmsg_seq, header.nlmsg_pid,
                                          std::move(*body)});
        return std::nullopt;
      });
  return result;
}

}  // namespace netlink
