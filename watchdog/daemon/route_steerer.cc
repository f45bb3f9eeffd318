#include "watchdog/daemon/route_steerer.h"

#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "netlink/route_control.h"

namespace watchdog {
namespace {

std::string Describe(const netlink::RouteMessage& r, const LinkNames& links) {
  std::string text =
      std::string(r.family == netlink::Family::kV4 ? "" : "-6 ") + "default";
  if (r.gateway) text += " via " + r.gateway->ToString();
  auto link = links.find(r.oif);
  text += link != links.end() ? " dev " + link->second.name
                              : " if" + std::to_string(r.oif);
  return text + " metric " + std::to_string(r.priority) + " proto " +
         std::to_string(r.protocol);
}

void Remove(RouteTablePort& port, const netlink::RouteMessage& route,
            std::string_view why, const LinkNames& links,
            SteeringResult* result) {
  const int err = port.DeleteRoute(route);
  if (err == 0) {
    ++result->removed;
    spdlog::info("steering: removed {}: {}", Describe(route, links), why);
  } else if (err == ESRCH) {
    ++result->removed;  // gone already (its device went away)
  } else {
    result->errors.push_back("removing " + Describe(route, links) + ": " +
                             std::strerror(err));
    spdlog::error("steering: {}, ignoring", result->errors.back());
  }
}

}  // namespace

KernelRouteTable::KernelRouteTable()
    : control_(std::make_unique<netlink::RouteControl>()) {}
KernelRouteTable::~KernelRouteTable() = default;

int KernelRouteTable::AddRoute(const netlink::RouteMessage& route) {
  return control_->Add(route);
}

int KernelRouteTable::DeleteRoute(const netlink::RouteMessage& route) {
  return control_->Delete(route);
}

netlink::RouteMessage ToRouteMessage(const SteeringRoute& route) {
  netlink::RouteMessage r;
  r.family = route.family;
  r.table = RT_TABLE_MAIN;
  r.protocol = kSteeringProtocol;
  r.scope = RT_SCOPE_UNIVERSE;
  r.type = RTN_UNICAST;
  r.dst_len = 0;
  r.gateway = route.gateway;
  r.oif = route.oif;
  r.priority = route.metric;
  return r;
}

SteeringResult ApplySteering(RouteTablePort& port, const SteeringPlan& plan,
                             const LinkNames& links) {
  SteeringResult result;
  for (const netlink::RouteMessage& route : plan.remove) {
    Remove(port, route, plan.why, links, &result);
  }
  if (!plan.add) return result;
  const netlink::RouteMessage route = ToRouteMessage(*plan.add);
  const int err = port.AddRoute(route);
  if (err == EEXIST) {
    // Most likely ours, added a moment ago, before the netlink model heard
    // of it (a unicast default of another's with that metric would have been
    // the first default the plan steers around). Left as it is either way.
    spdlog::debug("steering: a default with metric {} is there already",
                  plan.add->metric);
    result.already = true;
    return result;
  }
  if (err != 0) {
    result.errors.push_back("adding " + plan.add->ToString() + ": " +
                            std::strerror(err));
    spdlog::error("steering: {}, ignoring", result.errors.back());
    return result;
  }
  ++result.added;
  spdlog::info("steering: added {} proto {}: {}", plan.add->ToString(),
               kSteeringProtocol, plan.why);
  return result;
}

SteeringResult RemoveOwnRoutes(RouteTablePort& port,
                               std::span<const netlink::RouteMessage> routes,
                               std::string_view why, const LinkNames& links) {
  SteeringResult result;
  for (const netlink::RouteMessage& route : OwnSteeringRoutes(routes)) {
    Remove(port, route, why, links, &result);
  }
  return result;
}

}  // namespace watchdog
