// Decoded rtnetlink messages: plain values, no pointers into the datagram.
#ifndef TSWATCHDOG_NETLINK_MESSAGES_H_
#define TSWATCHDOG_NETLINK_MESSAGES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "netlink/address.h"

namespace netlink {

// Kernel constants the layers above need without including the kernel's
// headers (parser.cc checks them against those).
inline constexpr uint32_t kRouteTableMain = 254;      // RT_TABLE_MAIN
inline constexpr uint8_t kRouteTypeUnicast = 1;       // RTN_UNICAST
inline constexpr uint8_t kRuleActionToTable = 1;      // FR_ACT_TO_TBL
inline constexpr uint8_t kRuleActionBlackhole = 6;    // FR_ACT_BLACKHOLE
inline constexpr uint8_t kRuleActionUnreachable = 7;  // FR_ACT_UNREACHABLE

struct LinkMessage {
  bool deleted = false;
  int32_t index = 0;
  uint32_t flags = 0;  // IFF_*
  std::string name;    // IFLA_IFNAME; empty if absent
  std::string kind;    // IFLA_LINKINFO/IFLA_INFO_KIND ("veth", "tun", ...)
  bool wireless_only = false;  // only IFLA_WIRELESS news (a known noise source)
};

struct AddressMessage {
  bool deleted = false;
  int32_t index = 0;
  uint8_t prefix_len = 0;
  uint8_t scope = 0;
  uint32_t flags = 0;  // IFA_F_*; IFA_FLAGS when present (it has all 32 bits)
  IpAddress address;   // IFA_LOCAL when present, else IFA_ADDRESS
};

struct RouteMessage {
  bool deleted = false;
  Family family = Family::kV4;
  uint8_t dst_len = 0;
  uint8_t tos = 0;
  uint8_t protocol = 0;
  uint8_t scope = 0;
  uint8_t type = 0;  // RTN_*
  uint32_t flags = 0;
  uint32_t table = 0;  // RTA_TABLE when present, else rtm_table
  std::optional<IpAddress> dst;
  std::optional<IpAddress> gateway;
  std::optional<IpAddress> prefsrc;
  int32_t oif = 0;
  uint32_t priority = 0;
  bool multipath = false;  // RTA_MULTIPATH present (nexthops not decoded)
};

struct RuleMessage {
  bool deleted = false;
  Family family = Family::kV4;
  uint8_t action = 0;  // FR_ACT_*
  uint32_t table = 0;
  uint32_t priority = 0;
  std::optional<uint32_t> fwmark;
  std::optional<uint32_t> fwmask;
  std::string iifname;  // FRA_IIFNAME ("iif DEV"); empty if absent
};

struct DoneMessage {};

// NLMSG_ERROR: error == 0 is an acknowledgement, otherwise a negative errno.
struct ErrorMessage {
  int error = 0;
};

// The errno in a netlink error code (a negated errno; a positive one is taken
// as is). EPROTO for a code no kernel sends: beyond MAX_ERRNO (INT_MIN cannot
// even be negated).
int ErrnoFromNetlinkError(int code);

struct OtherMessage {
  uint16_t type = 0;
};

using MessageBody =
    std::variant<LinkMessage, AddressMessage, RouteMessage, RuleMessage,
                 DoneMessage, ErrorMessage, OtherMessage>;

struct Message {
  uint16_t type = 0;
  uint16_t flags = 0;  // NLM_F_*
  uint32_t seq = 0;
  uint32_t port = 0;
  MessageBody body;
};

enum class ParseErrorKind {
  kTruncatedHeader,   // fewer bytes left than a nlmsghdr
  kBadMessageLength,  // nlmsg_len shorter than a header or past the datagram
  kTruncatedPayload,  // message too short for its fixed payload struct
  kBadAttribute,      // attribute length out of bounds or wrong size
};

struct ParseError {
  ParseErrorKind kind;
  size_t offset = 0;  // byte offset in the datagram where the problem starts
  std::string detail;
  std::string ToString() const;
};

// What one datagram held: every message decoded before the first error, and
// that error, if any. A malformed message stops the walk (its length can no
// longer be trusted), the messages before it stay valid.
struct ParseResult {
  std::vector<Message> messages;
  std::optional<ParseError> error;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_MESSAGES_H_
