// A stand-in for tailscaled's link monitor (tailscale net/netmon): it
// notices exactly what netmon notices and nothing else.
//  - rtnetlink messages (address and route groups, IPv4 rules) are only a
//    wake-up; RTM_NEWRULE and routes in table 52 are ignored;
//  - on a wake-up it re-reads the state: up interfaces and their addresses,
//    and the default-route interface: the first 0.0.0.0/0 line of
//    /proc/net/route (the main table) not on tailscale*/wg*, else the first
//    default route with a gateway in a netlink dump of all tables;
//  - the callback runs only when that state differs, then the monitor
//    sleeps 1 s (netmon's debounce since 1.94) before it looks again.
// So a gateway change on the same device, an upstream NAT change or
// mwan3's marks are not noticed: the state does not change.
#ifndef TSWATCHDOG_TESTS_FAKE_NETMON_H_
#define TSWATCHDOG_TESTS_FAKE_NETMON_H_

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "netlink/unique_fd.h"
#include "tests/fake/time_scale.h"
#include "watchdog/io/event_loop.h"

namespace fake {

struct NetState {
  std::string default_interface;  // "" when there is none
  // Up, non-loopback, non-Tailscale interfaces and their IPs.
  std::map<std::string, std::set<std::string>> interface_ips;

  bool operator==(const NetState& other) const {
    return default_interface == other.default_interface &&
           interface_ips == other.interface_ips;
  }
  // net/netmon State.AnyInterfaceUp: a usable IPv4 or a global IPv6.
  bool AnyInterfaceUp() const;
  // The IPs of the default-route interface.
  std::set<std::string> DefaultInterfaceIps() const;
  bool HasIp(const std::string& ip) const;
  nlohmann::ordered_json ToJson() const;
};

// What changed (netmon.ChangeDelta, reduced to what the fake acts on).
struct NetChange {
  NetState old_state, new_state;
  bool default_interface_changed = false;
  bool major = false;  // RebindLikelyRequired
  std::string why;     // e.g. "default-route-interface wan0 -> wan1"
};

// Reads the state now (getifaddrs, /proc/net/route, a route dump).
NetState ReadNetState();
// The delta between two states; pure.
NetChange Compare(const NetState& old_state, const NetState& new_state);

class Netmon {
 public:
  Netmon(watchdog::EventLoop& loop, const TimeScale& scale,
         std::function<void(const NetChange&)> on_change);
  ~Netmon();
  Netmon(const Netmon&) = delete;
  Netmon& operator=(const Netmon&) = delete;

  // Subscribes and reads the initial state. False (with `error`) when the
  // netlink socket cannot be opened.
  bool Start(std::string* error);
  const NetState& state() const { return state_; }

 private:
  void OnReadable();
  void Wake();
  void Check();

  watchdog::EventLoop& loop_;
  const TimeScale& scale_;
  std::function<void(const NetChange&)> on_change_;
  netlink::UniqueFd fd_;
  NetState state_;
  bool sleeping_ = false;
  bool pending_ = false;
  watchdog::EventLoop::TimerId timer_ = 0;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_NETMON_H_
