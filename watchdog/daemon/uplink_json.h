// JSON rendering of the uplink view, shared by `monitor --json` and the state
// file.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_UPLINK_JSON_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_UPLINK_JSON_H_

#include <nlohmann/json.hpp>

#include "netlink/uplink.h"

namespace watchdog {

// {"usable", "dev", "ifindex", "gateway", "source", "carrier", "link_up",
//  "table", "error"}; absent values are null.
nlohmann::json EgressToJson(const netlink::Egress& egress);
// {"v4": {...}, "v6": {...}}
nlohmann::json UplinkViewToJson(const netlink::UplinkView& view);
// ["v4:device-changed", ...]
nlohmann::json ReasonsToJson(const std::vector<netlink::FamilyReason>& reasons);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_UPLINK_JSON_H_
