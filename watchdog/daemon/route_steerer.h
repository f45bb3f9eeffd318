// Carries out mode-A steering plans (watchdog/core/steering.h) through a
// small port, and removes our routes at start (a crash may have left one
// behind) and at exit. Every change is logged with the route and why; a
// failure is logged with the errno and ignored (the next plan retries).
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_ROUTE_STEERER_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_ROUTE_STEERER_H_

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/messages.h"
#include "netlink/model.h"
#include "watchdog/core/steering.h"

namespace netlink {
class RouteControl;
}

namespace watchdog {

// The side effects of steering: one route at a time, 0 or an errno.
class RouteTablePort {
 public:
  virtual ~RouteTablePort() = default;
  virtual int AddRoute(const netlink::RouteMessage& route) = 0;
  virtual int DeleteRoute(const netlink::RouteMessage& route) = 0;
};

// The kernel's main table over rtnetlink (netlink::RouteControl).
class KernelRouteTable : public RouteTablePort {
 public:
  KernelRouteTable();  // throws std::system_error without a netlink socket
  ~KernelRouteTable() override;
  int AddRoute(const netlink::RouteMessage& route) override;
  int DeleteRoute(const netlink::RouteMessage& route) override;

 private:
  std::unique_ptr<netlink::RouteControl> control_;
};

// The route we add for `route`: main table, our protocol, unicast.
netlink::RouteMessage ToRouteMessage(const SteeringRoute& route);

struct SteeringResult {
  int added = 0;
  int removed = 0;
  std::vector<std::string> errors;  // "adding ...: Network is unreachable"
  bool already = false;  // the main table had a default with that metric
};

// Device names for the log (Model::links); an unknown index logs as "ifN".
using LinkNames = std::map<int32_t, netlink::Link>;

// Removes, then adds (a replacement may have the same metric).
SteeringResult ApplySteering(RouteTablePort& port, const SteeringPlan& plan,
                             const LinkNames& links = {});

// Removes every route of ours among `routes` (Model::routes), both
// families: at start and at exit.
SteeringResult RemoveOwnRoutes(RouteTablePort& port,
                               std::span<const netlink::RouteMessage> routes,
                               std::string_view why,
                               const LinkNames& links = {});

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_ROUTE_STEERER_H_
