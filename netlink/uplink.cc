#include "netlink/uplink.h"

#include <cstring>

namespace netlink {

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kUplinkAppeared:
      return "uplink-appeared";
    case Reason::kUplinkLost:
      return "uplink-lost";
    case Reason::kDeviceChanged:
      return "device-changed";
    case Reason::kGatewayChanged:
      return "gateway-changed";
    case Reason::kSourceChanged:
      return "source-changed";
    case Reason::kCarrierChanged:
      return "carrier-changed";
  }
  return "?";
}

std::string FamilyReason::ToString() const {
  std::string text(FamilyName(family));
  text += ':';
  text += ReasonName(reason);
  return text;
}

std::string UplinkChange::ReasonsString() const {
  std::string text;
  for (const FamilyReason& r : reasons) {
    if (!text.empty()) text += ',';
    text += r.ToString();
  }
  return text;
}

std::vector<FamilyReason> DiffEgress(Family family, const Egress& before,
                                     const Egress& after) {
  std::vector<FamilyReason> reasons;
  auto add = [&](Reason r) { reasons.push_back({family, r}); };
  if (!before.usable() && after.usable()) add(Reason::kUplinkAppeared);
  if (before.usable() && !after.usable()) add(Reason::kUplinkLost);
  // Field changes matter only while a route exists on both sides and at least
  // one side could carry traffic; a dead route moving between dead devices
  // tells tailscaled nothing.
  if (before.present && after.present && (before.usable() || after.usable())) {
    if (before.ifindex != after.ifindex || before.dev != after.dev) {
      add(Reason::kDeviceChanged);
    }
    if (before.gateway != after.gateway) add(Reason::kGatewayChanged);
    if (before.source != after.source) add(Reason::kSourceChanged);
    if (before.carrier != after.carrier) add(Reason::kCarrierChanged);
  }
  return reasons;
}

std::optional<UplinkChange> ComputeUplinkChange(const UplinkView& before,
                                                const UplinkView& after) {
  UplinkChange change{before, after, {}};
  for (Family family : kFamilies) {
    auto reasons = DiffEgress(family, before.Get(family), after.Get(family));
    change.reasons.insert(change.reasons.end(), reasons.begin(), reasons.end());
  }
  if (change.reasons.empty()) return std::nullopt;
  return change;
}

std::string DescribeEgress(const Egress& egress) {
  if (!egress.present) {
    std::string text = "none";
    if (egress.lookup_error != 0) {
      text += " (";
      text += std::strerror(egress.lookup_error);
      text += ")";
    }
    return text;
  }
  std::string text = "dev " + egress.dev;
  if (egress.gateway) text += " via " + egress.gateway->ToString();
  text += " src " + (egress.source ? egress.source->ToString() : "none");
  text += egress.carrier ? " carrier up" : " carrier down";
  if (!egress.link_up) text += " link down";
  if (egress.source && !egress.source_usable) text += " (source unusable)";
  if (egress.via_tailscale) text += " (via tailscale)";
  text += egress.usable() ? " [usable]" : " [unusable]";
  return text;
}

}  // namespace netlink
