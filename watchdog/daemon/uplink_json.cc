#include "watchdog/daemon/uplink_json.h"

#include <cstring>

namespace watchdog {

using nlohmann::json;

json EgressToJson(const netlink::Egress& egress) {
  auto optional_ip = [](const std::optional<netlink::IpAddress>& ip) {
    return ip ? json(ip->ToString()) : json(nullptr);
  };
  json out = {
      {"usable", egress.usable()},
      {"dev", egress.present ? json(egress.dev) : json(nullptr)},
      {"ifindex", egress.present ? json(egress.ifindex) : json(nullptr)},
      {"gateway", optional_ip(egress.gateway)},
      {"source", optional_ip(egress.source)},
      {"carrier", egress.present && egress.carrier},
      {"link_up", egress.present && egress.link_up},
      {"table", egress.present ? json(egress.table) : json(nullptr)},
      {"error", egress.lookup_error != 0
                    ? json(std::strerror(egress.lookup_error))
                    : json(nullptr)},
  };
  if (egress.source && !egress.source_usable) out["source_usable"] = false;
  if (egress.via_tailscale) out["via_tailscale"] = true;
  return out;
}

json UplinkViewToJson(const netlink::UplinkView& view) {
  return {{"v4", EgressToJson(view.v4)}, {"v6", EgressToJson(view.v6)}};
}

json ReasonsToJson(const std::vector<netlink::FamilyReason>& reasons) {
  json out = json::array();
  for (const auto& reason : reasons) out.push_back(reason.ToString());
  return out;
}

}  // namespace watchdog
