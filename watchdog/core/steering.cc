#include "watchdog/core/steering.h"

#include <algorithm>

namespace watchdog {
namespace {

using netlink::RouteMessage;

bool IsMainDefault(const RouteMessage& r, netlink::Family family) {
  return !r.deleted && r.family == family &&
         r.table == netlink::kRouteTableMain && r.dst_len == 0 &&
         r.type == netlink::kRouteTypeUnicast && r.oif != 0;
}

bool IsOurs(const RouteMessage& r) {
  return r.protocol == kSteeringProtocol &&
         r.table == netlink::kRouteTableMain && r.dst_len == 0 && !r.deleted;
}

std::string DevName(const SteeringInput& in, int32_t oif) {
  auto it = in.links.find(oif);
  return it == in.links.end() ? "if" + std::to_string(oif) : it->second.name;
}

SteeringRoute FromRoute(const SteeringInput& in, const RouteMessage& r) {
  return SteeringRoute{r.family, r.oif, DevName(in, r.oif), r.gateway,
                       r.priority};
}

// The main table's defaults but ours, lowest metric first: the first is
// what netmon reads as the default route interface and what rule 1310
// resolves tailscaled's packets through.
std::vector<RouteMessage> OthersDefaults(const SteeringInput& in) {
  std::vector<RouteMessage> out;
  for (const RouteMessage& r : in.routes) {
    if (IsMainDefault(r, in.family) && !IsOurs(r)) out.push_back(r);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.priority < b.priority;
  });
  return out;
}

// A default route through a WAN that mwan3 says is online: its main-table
// default (netifd adds one per WAN, with the WAN's metric), else the
// default in the WAN's own mwan3 table (table = id).
std::optional<SteeringRoute> LiveWanRoute(
    const SteeringInput& in, const std::vector<RouteMessage>& defaults,
    const Mwan3Wan** wan_out) {
  for (const RouteMessage& r : defaults) {
    const Mwan3Wan* wan = in.mwan3.FindByDevice(DevName(in, r.oif), in.family);
    if (wan != nullptr && wan->state == WanState::kOnline) {
      *wan_out = wan;
      return FromRoute(in, r);
    }
  }
  for (const Mwan3Wan& wan : in.mwan3.wans) {
    if (wan.family != in.family || wan.state != WanState::kOnline) continue;
    for (const RouteMessage& r : in.routes) {
      if (!r.deleted && r.family == in.family && r.table == wan.id &&
          r.dst_len == 0 && r.type == netlink::kRouteTypeUnicast &&
          r.oif != 0) {
        *wan_out = &wan;
        return FromRoute(in, r);
      }
    }
  }
  return std::nullopt;
}

std::optional<SteeringRoute> WantedRoute(const SteeringInput& in,
                                         std::string* why) {
  if (!in.enabled) {
    *why = "mwan3 steering is off (config)";
    return std::nullopt;
  }
  const Mwan3Rules& rules = in.mwan3.rules;
  if (!rules.present) {
    *why = "no mwan3 rules";
    return std::nullopt;
  }
  if (rules.mode != TailscaleRuleMode::kA) {
    *why = std::string("tailscaled is not in mode A (mode ") +
           TailscaleRuleModeName(rules.mode) +
           "): its traffic does not go by the main table first";
    return std::nullopt;
  }
  const std::vector<RouteMessage> defaults = OthersDefaults(in);
  if (defaults.empty()) {
    *why = "no default route in the main table";
    return std::nullopt;
  }
  const SteeringRoute first = FromRoute(in, defaults.front());
  const Mwan3Wan* dead = in.mwan3.FindByDevice(first.dev, in.family);
  if (dead == nullptr) {
    *why = "the main table's default (" + first.ToString() +
           ") is not on a WAN mwan3 tracks";
    return std::nullopt;
  }
  if (dead->state != WanState::kOffline) {
    *why = dead->Label() + ", which the main table's default uses, is " +
           WanStateName(dead->state);
    return std::nullopt;
  }
  if (first.metric == 0) {
    *why = dead->Label() +
           " is offline, but the main table's default through it has metric "
           "0: no lower metric to steer with (give each WAN its own metric "
           "in /etc/config/network, as mwan3 asks)";
    return std::nullopt;
  }
  const Mwan3Wan* live = nullptr;
  std::optional<SteeringRoute> route = LiveWanRoute(in, defaults, &live);
  if (!route) {
    *why = dead->Label() +
           " is offline and no WAN mwan3 says is online has a default route";
    return std::nullopt;
  }
  route->metric = first.metric - 1;
  *why = dead->Label() + " is offline, " + live->Label() +
         " is online: tailscaled's traffic goes by " + route->dev;
  return route;
}

bool Matches(const RouteMessage& ours, const SteeringRoute& want) {
  return ours.family == want.family && ours.oif == want.oif &&
         ours.gateway == want.gateway && ours.priority == want.metric;
}

}  // namespace

std::string SteeringRoute::ToString() const {
  std::string text = "default";
  if (gateway) text += " via " + gateway->ToString();
  return text + " dev " + dev + " metric " + std::to_string(metric);
}

std::vector<RouteMessage> OwnSteeringRoutes(
    std::span<const RouteMessage> routes) {
  std::vector<RouteMessage> out;
  for (const RouteMessage& r : routes) {
    if (IsOurs(r)) out.push_back(r);
  }
  return out;
}

SteeringPlan PlanSteering(const SteeringInput& input) {
  SteeringPlan plan;
  const std::optional<SteeringRoute> want = WantedRoute(input, &plan.why);
  for (const RouteMessage& ours : OwnSteeringRoutes(input.routes)) {
    if (ours.family != input.family) continue;
    if (want && !plan.keep && Matches(ours, *want)) {
      plan.keep = want;
    } else {
      plan.remove.push_back(ours);
    }
  }
  if (want && !plan.keep) plan.add = want;
  return plan;
}

}  // namespace watchdog
