// One-line descriptions of parsed messages for `--debug` logs.
#ifndef TSWATCHDOG_NETLINK_DESCRIBE_H_
#define TSWATCHDOG_NETLINK_DESCRIBE_H_

#include <string>

#include "netlink/messages.h"
#include "netlink/model.h"

namespace netlink {

// "new route default/0 table 254 oif 3 via 198.51.100.1 metric 100"
std::string DescribeMessage(const Message& msg);
// "hint", "duplicate", "ignored"
const char* RelevanceName(Relevance relevance);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_DESCRIBE_H_
