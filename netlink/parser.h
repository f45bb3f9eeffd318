// The rtnetlink parser: a pure function over bytes. Every header, fixed payload
// and attribute is bounds-checked; unknown message types and attributes are
// skipped; bad input yields an error value, never a crash or an out-of-bounds
// read. The input need not be aligned (the parser copies what it reads).
#ifndef TSWATCHDOG_NETLINK_PARSER_H_
#define TSWATCHDOG_NETLINK_PARSER_H_

#include <cstdint>
#include <span>

#include "netlink/messages.h"

namespace netlink {

ParseResult ParseDatagram(std::span<const uint8_t> datagram);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_PARSER_H_
